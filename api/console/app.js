// The console's shell: login, the role's pages in the navigation, the language
// switch, and one page mounted at a time (#/wallboard, #/qa, ...).

import { api, whenUnauthenticated } from './api.js';
import { clear, h } from './dom.js';
import { lang, relabel, setLang, t } from './i18n.js';
import { renderLogin } from './login.js';
import { pagesFor, PAGES } from './pages.js';
import { session } from './session.js';

const main = document.getElementById('main');
let unmount = null;
let showing = 0; // which show() call is current (pages load asynchronously)

function leavePage() {
  if (unmount) unmount();
  unmount = null;
  showing += 1;
  clear(main);
}

function showLogin(noticeKey) {
  leavePage();
  document.getElementById('nav').replaceChildren();
  document.getElementById('who').textContent = '';
  document.getElementById('logout').hidden = true;
  document.body.dataset.role = '';
  renderLogin(main, noticeKey, () => {
    if (location.hash.length < 3) history.replaceState(null, '', '#/');
    route();
  });
}

function renderChrome(pages, current) {
  const nav = document.getElementById('nav');
  nav.replaceChildren(h('ul', {}, pages.map((page) => h('li', {},
    h('a', {
      href: `#/${page.name}`, t: page.label, 'aria-current': page.name === current ? 'page' : null,
    })))));
  const user = session.user;
  const who = document.getElementById('who');
  who.replaceChildren(h('span', { text: user.display_name }), ' · ',
    h('span', { class: 'role', t: `role.${user.role}` }));
  document.getElementById('logout').hidden = false;
  document.body.dataset.role = user.role;
}

// Show the page the address names; `moveFocus` puts the keyboard on its title (after
// the person went somewhere; on a fresh load the focus stays at the top, where the
// skip link is).
function route(moveFocus = true) {
  if (!session.token) {
    showLogin();
    return;
  }
  const pages = pagesFor(session.user.role);
  if (!pages.length) {
    leavePage();
    main.append(h('p', { class: 'error', role: 'alert', t: 'nav.no_pages' }));
    return;
  }
  const wanted = location.hash.replace(/^#\/?/, '');
  const page = pages.find((p) => p.name === wanted);
  if (!page) {
    history.replaceState(null, '', `#/${pages[0].name}`);
    const refused = PAGES.some((p) => p.name === wanted);
    show(pages, pages[0], refused ? 'nav.not_allowed' : null, moveFocus);
    return;
  }
  show(pages, page, null, moveFocus);
}

async function show(pages, page, noticeKey, moveFocus) {
  leavePage();
  const mine = showing;
  renderChrome(pages, page.name);
  const module = await page.load();
  if (mine !== showing) return;
  if (noticeKey) main.append(h('p', { class: 'notice', role: 'alert', t: noticeKey }));
  unmount = module.mount(main, { user: session.user });
  const heading = main.querySelector('h1');
  if (heading) heading.setAttribute('tabindex', '-1');
  if (heading && moveFocus) heading.focus({ preventScroll: true });
  document.title = `${t(page.label)} · callcase`;
}

async function logout() {
  try {
    await api('/auth/logout', { method: 'POST' });
  } catch {
    // the token is forgotten here either way
  }
  session.clear();
  history.replaceState(null, '', '#/');
  showLogin('login.logged_out');
}

async function resume() {
  try {
    session.save(session.token, await api('/me'));
    route(false);
  } catch {
    if (session.token) {
      session.clear();
      showLogin('login.failed_resume');
    }
  }
}

function setupChrome() {
  const select = document.getElementById('lang');
  select.value = lang();
  document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
  select.addEventListener('change', () => {
    setLang(select.value);
    const label = document.querySelector('#nav [aria-current="page"]');
    if (label) document.title = `${label.textContent} · callcase`;
  });
  document.getElementById('logout').addEventListener('click', logout);
  document.getElementById('skip').addEventListener('click', (event) => {
    event.preventDefault();
    main.focus();
  });
  document.getElementById('status').hidden = true;
  relabel();
}

whenUnauthenticated(() => {
  session.clear();
  showLogin('login.expired');
});
window.addEventListener('hashchange', () => route(true));
setupChrome();
session.load();
if (session.token) resume();
else showLogin();
