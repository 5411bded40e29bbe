// The login form: POST /auth/login gives a token and the user.

import { api, ApiError } from './api.js';
import { field, h } from './dom.js';
import { errorText, tx } from './i18n.js';
import { session } from './session.js';

export function renderLogin(main, noticeKey, onDone) {
  const user = h('input', { name: 'username', autocomplete: 'username', required: true });
  const password = h('input', {
    name: 'password', type: 'password', autocomplete: 'current-password', required: true,
  });
  const message = h('p', { class: 'error', role: 'alert', id: 'login-error' });
  if (noticeKey) tx(message, noticeKey);
  const submit = h('button', { type: 'submit', class: 'primary', t: 'login.submit' });
  const form = h('form', { class: 'login card', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title', tabindex: '-1', t: 'login.title' }),
    field('login-user', 'login.username', user),
    field('login-password', 'login.password', password),
    message, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    message.textContent = '';
    try {
      const body = await api('/auth/login', {
        method: 'POST', body: { username: user.value.trim(), password: password.value },
      });
      session.save(body.token, body.user);
      onDone();
    } catch (error) {
      message.textContent = error instanceof ApiError ? errorText(error) : String(error);
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  main.append(h('div', { class: 'login-page' }, form));
  user.focus();
}
