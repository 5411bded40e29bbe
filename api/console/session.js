// The login session of this browser tab: the bearer token and the user it belongs to.
// sessionStorage keeps it across reloads of the tab and forgets it with the tab.

const KEY = 'callcase.session';

export const session = {
  token: null,
  user: null,

  load() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(KEY) || 'null');
      if (saved && saved.token && saved.user) Object.assign(this, saved);
    } catch {
      this.clear();
    }
  },

  save(token, user) {
    this.token = token;
    this.user = user;
    sessionStorage.setItem(KEY, JSON.stringify({ token, user }));
  },

  clear() {
    this.token = null;
    this.user = null;
    sessionStorage.removeItem(KEY);
  },
};
