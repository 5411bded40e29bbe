// Which pages each role sees. The API enforces the same rules on every call; this
// only keeps people away from pages whose calls would all be refused.

export const PAGES = [
  { name: 'wallboard', label: 'nav.wallboard', roles: ['supervisor', 'admin'],
    load: () => import('./wallboard.js') },
  { name: 'campaigns', label: 'nav.campaigns', roles: ['admin', 'campaign_manager', 'supervisor'],
    load: () => import('./campaigns.js') },
  { name: 'qa', label: 'nav.qa', roles: ['qa', 'supervisor', 'admin'],
    load: () => import('./qa.js') },
  { name: 'coverage', label: 'nav.coverage', roles: ['qa', 'supervisor', 'admin', 'client_auditor'],
    load: () => import('./coverage.js') },
  { name: 'reports', label: 'nav.reports',
    roles: ['admin', 'campaign_manager', 'supervisor', 'client_auditor'],
    load: () => import('./reports.js') },
  { name: 'desk', label: 'nav.desk', roles: ['agent'],
    load: () => import('./desk.js') },
];

export function pagesFor(role) {
  return PAGES.filter((page) => page.roles.includes(role));
}
