import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { api, currentSession, onSessionChange, can } from './api.js';
import { navigate, useLocation, match } from './router.js';
import { Link, Tray, Field, FormError, useSubmit, usePoll, labelStackedTables } from './components.jsx';
import { Dashboard } from './pages/dashboard.jsx';
import { Volumes, VolumeDetail } from './pages/volumes.jsx';
import { Containers } from './pages/containers.jsx';
import { Hosts } from './pages/hosts.jsx';
import { Endpoints, Devices } from './pages/infrastructure.jsx';
import { Tasks } from './pages/tasks.jsx';
import { Activity } from './pages/activity.jsx';
import { Users } from './pages/users.jsx';

const NAV = [
  { href: '/', label: 'Dashboard', icon: '◧' },
  { href: '/volumes', label: 'Virtual volumes', icon: '▤' },
  { href: '/containers', label: 'Containers & policies', icon: '▦' },
  { href: '/hosts', label: 'Hosts', icon: '⌂' },
  { href: '/endpoints', label: 'Protocol endpoints', icon: '⇄' },
  { href: '/devices', label: 'Devices', icon: '▣' },
  { href: '/tasks', label: 'Tasks', icon: '↻' },
  { href: '/activity', label: 'Events & alarms', icon: '◔' },
  { href: '/users', label: 'Users', icon: '☺', admin: true },
];

const ROUTES = [
  ['/', Dashboard],
  ['/volumes', Volumes],
  ['/volumes/:id', VolumeDetail],
  ['/containers', Containers],
  ['/hosts', Hosts],
  ['/endpoints', Endpoints],
  ['/devices', Devices],
  ['/tasks', Tasks],
  ['/activity', Activity],
  ['/users', Users],
];

function App() {
  const [session, setSession] = useState(currentSession());
  const [ended, setEnded] = useState(null);
  useEffect(() => onSessionChange((s, reason) => {
    setSession(s);
    if (!s) setEnded(reason === 'expired' ? 'Your session has ended. Please log in again.' : null);
  }), []);
  if (!session) return <Login notice={ended} />;
  return <Shell session={session} />;
}

function Login({ notice }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const { busy, error, run } = useSubmit(() => api.login(username.trim(), password));
  useEffect(() => { document.title = 'Log in · vvolgate'; }, []);
  return (
    <main class="login-page">
      <form class="login-card" onSubmit={(e) => { e.preventDefault(); run(); }} aria-labelledby="login-title">
        <div class="brand big"><span class="logo" aria-hidden="true">V</span><span>vvolgate</span></div>
        <h1 id="login-title">Log in to the appliance</h1>
        {notice && <div class="form-info" role="status">{notice}</div>}
        <Field label="User name" name="username" error={error}>
          {(p) => <input {...p} autocomplete="username" value={username} onInput={(e) => setUsername(e.target.value)} autofocus required />}
        </Field>
        <Field label="Password" name="password" error={error}>
          {(p) => <input {...p} type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.target.value)} required />}
        </Field>
        <FormError error={error} fields={['username', 'password']} />
        <button class="primary wide" type="submit" disabled={busy}>{busy ? 'Logging in…' : 'Log in'}</button>
      </form>
    </main>
  );
}

function Shell({ session }) {
  const { path } = useLocation();
  const [menuOpen, setMenuOpen] = useState(false);
  const alarms = usePoll(() => api.alarms(true), [], 15000);
  const open = (alarms.data || []).filter((a) => !a.acknowledged).length;
  let page = null;
  for (const [pattern, Page] of ROUTES) {
    const params = match(pattern, path);
    if (params) { page = <Page {...params} session={session} />; break; }
  }
  const firstPath = useRef(path);
  useEffect(() => {
    setMenuOpen(false);
    // After a navigation (not the first load), focus moves to the new page, as a page load would.
    if (firstPath.current !== null && firstPath.current === path) return;
    firstPath.current = null;
    document.getElementById('main')?.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }, [path]);
  const current = (href) => (href === '/' ? path === '/' : path === href || path.startsWith(`${href}/`));
  return (
    <div class={`shell${menuOpen ? ' menu-open' : ''}`}
      onKeyDown={(e) => { if (e.key === 'Escape' && menuOpen) { setMenuOpen(false); document.querySelector('.menu-button')?.focus(); } }}>
      <a class="skip-link" href="#main">Skip to content</a>
      <header class="topbar">
        <button type="button" class="icon-button menu-button" aria-expanded={menuOpen} aria-controls="nav"
          aria-label="Menu" onClick={() => setMenuOpen(!menuOpen)}>☰</button>
        <Link href="/" class="brand"><span class="logo" aria-hidden="true">V</span><span>vvolgate</span></Link>
        <div class="topbar-right">
          {open > 0 && <Link href="/activity?tab=alarms" class="alarm-pill" title="Unacknowledged alarms" aria-label={`${open} unacknowledged alarm${open === 1 ? '' : 's'}`}>⚠ {open}<span class="alarm-word"> alarm{open === 1 ? '' : 's'}</span></Link>}
          <span class="who" data-testid="who"><span class="who-name">{session.username}</span> <span class={`role ${session.role}`}>{session.role}</span></span>
          <button type="button" class="ghost" onClick={() => api.logout().then(() => navigate('/', { replace: true }))}>Log out</button>
        </div>
      </header>
      <nav id="nav" class="sidebar" aria-label="Main">
        <ul>
          {NAV.filter((n) => !n.admin || can('admin', session)).map((n) => (
            <li key={n.href}>
              <Link href={n.href} aria-current={current(n.href) ? 'page' : undefined}>
                <span class="nav-icon" aria-hidden="true">{n.icon}</span>{n.label}
              </Link>
            </li>
          ))}
        </ul>
        <div class="sidebar-foot">
          <a href="/api/openapi.yaml" target="_blank" rel="noopener">API document</a>
        </div>
      </nav>
      {menuOpen && <div class="scrim" aria-hidden="true" onClick={() => setMenuOpen(false)} />}
      <main id="main" tabindex="-1" class="content">
        {page || <NotFound />}
      </main>
      <Tray />
    </div>
  );
}

function NotFound() {
  return (
    <div class="card">
      <h1>Not found</h1>
      <p>There is no page here. <Link href="/">Go to the dashboard</Link>.</p>
    </div>
  );
}

labelStackedTables(document.getElementById('app'));
render(<App />, document.getElementById('app'));
