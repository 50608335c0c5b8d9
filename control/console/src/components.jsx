// Small building blocks shared by the pages: links, dialogs, fields with their errors, badges,
// progress, notices, polling, and the tray of long tasks.
import { useCallback, useEffect, useId, useRef, useState } from 'preact/hooks';
import { navigate } from './router.js';
import { api, ApiError } from './api.js';
import { percent } from './format.js';

export function Link({ href, children, ...rest }) {
  return (
    <a href={href} {...rest} onClick={(e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      navigate(href);
      rest.onClick?.(e);
    }}>{children}</a>
  );
}

/**
 * A modal dialog on the native <dialog> element: showModal() makes the page behind it inert (focus
 * stays inside), Escape closes it, and focus returns to what opened it.
 */
export function Dialog({ open, title, onClose, children, footer, wide, labelledBy, testId }) {
  const ref = useRef(null);
  const opener = useRef(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      opener.current = document.activeElement;
      d.showModal();
      // The field marked autofocus, else the first field, else the first button of the footer
      // (Cancel, in a confirmation: the safe choice).
      const first = ['[autofocus]', 'input:not([type=hidden]), select, textarea', '.dialog-foot button', 'button']
        .map((sel) => d.querySelector(sel)).find(Boolean);
      first?.focus();
    } else if (!open && d.open) {
      d.close();
      opener.current?.focus?.();
    }
  }, [open]);
  useEffect(() => () => { if (ref.current?.open) ref.current.close(); }, []);
  return (
    <dialog ref={ref} class={`dialog${wide ? ' wide' : ''}`} aria-labelledby={labelledBy || titleId} data-testid={testId}
      onCancel={(e) => { e.preventDefault(); onClose?.(); }}
      onKeyDown={(e) => trapTab(e, ref.current)}
      onClick={(e) => { if (e.target === ref.current) onClose?.(); }}>
      {open && (
        <div class="dialog-body">
          <header class="dialog-head">
            <h2 id={titleId}>{title}</h2>
            <button type="button" class="icon-button" aria-label="Close" onClick={onClose}>✕</button>
          </header>
          <div class="dialog-content">{children}</div>
          {footer && <footer class="dialog-foot">{footer}</footer>}
        </div>
      )}
    </dialog>
  );
}

/** Tab from the last control goes to the first, Shift+Tab from the first to the last (not to the browser's bar). */
function trapTab(e, dialog) {
  if (e.key !== 'Tab' || !dialog) return;
  const focusable = [...dialog.querySelectorAll('button, [href], input, select, textarea, [tabindex]:not([tabindex="-1"])')]
    .filter((el) => !el.disabled && el.offsetParent !== null);
  if (!focusable.length) return;
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
  else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
}

/** A form field with its label, hint and the API's error when the error names this field. */
export function Field({ label, name, error, hint, children, class: cls }) {
  const id = useId();
  const mine = error instanceof ApiError && error.field && fieldMatches(error.field, name) ? error : null;
  const describedBy = [hint && `${id}-hint`, mine && `${id}-err`].filter(Boolean).join(' ') || undefined;
  const child = typeof children === 'function'
    ? children({ id, 'aria-invalid': mine ? 'true' : undefined, 'aria-describedby': describedBy, name })
    : children;
  return (
    <div class={`field${mine ? ' invalid' : ''}${cls ? ` ${cls}` : ''}`}>
      <label for={id}>{label}</label>
      {child}
      {hint && !mine && <div class="hint" id={`${id}-hint`}>{hint}</div>}
      {mine && <div class="field-error" id={`${id}-err`} role="alert" data-field={name}>{mine.message}</div>}
    </div>
  );
}

function fieldMatches(field, name) {
  const names = Array.isArray(name) ? name : [name];
  return names.some((n) => n === field || field.endsWith(`.${n}`));
}

/** The API error when no field of the form claims it (or it names none). */
export function FormError({ error, fields = [] }) {
  if (!error) return null;
  if (error instanceof ApiError && error.field && fields.some((f) => fieldMatches(error.field, f))) return null;
  return <div class="form-error" role="alert">{error.message || String(error)}</div>;
}

/** Runs an API call from a form: busy while it runs, the error kept for the fields to show. */
export function useSubmit(fn) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const run = useCallback(async (...args) => {
    setBusy(true);
    setError(null);
    try {
      return await fn(...args);
    } catch (e) {
      setError(e);
      return undefined;
    } finally {
      setBusy(false);
    }
  }, [fn]);
  return { busy, error, setError, run };
}

/** Loads with `load(signal)` now and every `intervalMs` (if given) while the page shows it. */
export function usePoll(load, deps, intervalMs) {
  const [state, setState] = useState({ data: undefined, error: null, loading: true });
  const seq = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++seq.current;
    try {
      const data = await load();
      if (mine === seq.current) setState({ data, error: null, loading: false });
    } catch (e) {
      if (e.name !== 'AbortError' && mine === seq.current) setState((s) => ({ data: s.data, error: e, loading: false }));
    }
  }, deps);
  useEffect(() => {
    setState((s) => ({ ...s, loading: true }));
    reload();
    if (!intervalMs) return () => { seq.current++; };
    const t = setInterval(() => { if (!document.hidden) reload(); }, intervalMs);
    return () => { clearInterval(t); seq.current++; };
  }, [reload, intervalMs]);
  return { ...state, reload };
}

export function Badge({ tone = 'neutral', children, title }) {
  return <span class={`badge ${tone}`} title={title}>{children}</span>;
}

const STATE_TONES = {
  ok: 'good', in_sync: 'good', optimized: 'good', success: 'good', online: 'good',
  non_optimized: 'warn', resyncing: 'info', running: 'info', change: 'info', degraded: 'warn', stale: 'warn',
  warning: 'warn', info: 'info', inaccessible: 'bad', persistent_loss: 'bad', failed: 'bad', missing: 'bad',
  error: 'bad', critical: 'bad',
};
export function StateBadge({ state }) {
  return <Badge tone={STATE_TONES[state] || 'neutral'}>{String(state ?? '—').replace(/_/g, ' ')}</Badge>;
}

export function Progress({ value, label }) {
  const v = Math.max(0, Math.min(1, value || 0));
  return (
    <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow={Math.round(v * 100)}
      aria-label={label}>
      <div class="progress-bar" style={{ width: `${v * 100}%` }} />
      <span class="progress-text">{percent(v)}</span>
    </div>
  );
}

export function Empty({ children }) {
  return <div class="empty">{children}</div>;
}

export function LoadError({ error, onRetry }) {
  if (!error) return null;
  return (
    <div class="form-error" role="alert">
      {error.message}{' '}
      {onRetry && <button type="button" class="link-button" onClick={onRetry}>Try again</button>}
    </div>
  );
}

export function PageHeader({ title, subtitle, children }) {
  return (
    <div class="page-header">
      <div>
        <h1>{title}</h1>
        {subtitle && <p class="subtitle">{subtitle}</p>}
      </div>
      {children && <div class="page-actions">{children}</div>}
    </div>
  );
}

/** A destructive action confirmed in a dialog; the error of the call is shown in the dialog. */
export function ConfirmDialog({ open, title, children, confirmLabel = 'Delete', onConfirm, onClose, tone = 'danger' }) {
  const { busy, error, setError, run } = useSubmit(onConfirm);
  useEffect(() => { if (open) setError(null); }, [open]);
  return (
    <Dialog open={open} title={title} onClose={onClose} testId="confirm-dialog"
      footer={<>
        <button type="button" onClick={onClose}>Cancel</button>
        <button type="button" class={tone} disabled={busy} onClick={async () => {
          const ok = await run();
          if (ok !== undefined) onClose();
        }}>{busy ? 'Working…' : confirmLabel}</button>
      </>}>
      <div class="confirm-text">{children}</div>
      <FormError error={error} />
    </Dialog>
  );
}

// ---- notices ---------------------------------------------------------------------------------

const noticeListeners = new Set();
let notices = [];
let noticeSeq = 0;
export function notify(text, tone = 'good') {
  const n = { id: ++noticeSeq, text, tone };
  notices = [...notices, n].slice(-4);
  for (const l of noticeListeners) l(notices);
  setTimeout(() => {
    notices = notices.filter((x) => x.id !== n.id);
    for (const l of noticeListeners) l(notices);
  }, tone === 'bad' ? 9000 : 5000);
}

// ---- long tasks ------------------------------------------------------------------------------

const taskListeners = new Set();
let tracked = [];
function publishTasks() { for (const l of taskListeners) l(tracked); }

/** Follows a task the user started (full clone, delete) in the tray until it ends. */
export function trackTask(task, label, onDone) {
  tracked = [...tracked.filter((t) => t.task.id !== task.id), { task, label }];
  publishTasks();
  const step = async () => {
    let t;
    try { t = await api.task(task.id); } catch (e) { t = { ...task, state: 'error', error: { message: e.message } }; }
    tracked = tracked.map((x) => (x.task.id === task.id ? { ...x, task: t } : x));
    publishTasks();
    if (t.state === 'running') { setTimeout(step, 1000); return; }
    if (t.state === 'success') notify(`${label}: done`);
    else notify(`${label}: ${t.error?.message || 'failed'}`, 'bad');
    onDone?.(t);
    setTimeout(() => { tracked = tracked.filter((x) => x.task.id !== task.id); publishTasks(); }, 6000);
  };
  if (task.state === 'running') setTimeout(step, 500); else step();
}

export function Tray() {
  const [list, setList] = useState(notices);
  const [tasks, setTasks] = useState(tracked);
  useEffect(() => {
    noticeListeners.add(setList);
    taskListeners.add(setTasks);
    return () => { noticeListeners.delete(setList); taskListeners.delete(setTasks); };
  }, []);
  return (
    <div class="tray" aria-live="polite">
      {tasks.map(({ task, label }) => (
        <div class="tray-item task" key={task.id} data-testid="tray-task">
          <div class="tray-title">{label}</div>
          {task.state === 'running' ? <Progress value={task.progress} label={label} /> : <StateBadge state={task.state} />}
        </div>
      ))}
      {list.map((n) => <div class={`tray-item notice ${n.tone}`} key={n.id} role="status">{n.text}</div>)}
    </div>
  );
}

// ---- tables that stack on phones ------------------------------------------------------------

/**
 * On a phone, a `table.stack` shows each row as a card and each cell with its column's name before it
 * (CSS `attr(data-label)`). The labels are copied from the header here, for every such table the
 * page shows, whenever the page changes.
 */
export function labelStackedTables(root) {
  let queued = false;
  const label = () => {
    queued = false;
    for (const table of root.querySelectorAll('table.stack')) {
      const heads = [...(table.tHead?.rows[0]?.cells || [])].map((th) => (th.querySelector('.sr-only') ? '' : th.textContent.trim()));
      for (const row of table.tBodies[0]?.rows || []) {
        [...row.cells].forEach((cell, i) => {
          const text = heads[i] || '';
          if (cell.dataset.label !== text) cell.dataset.label = text;
        });
      }
    }
  };
  new MutationObserver(() => { if (!queued) { queued = true; requestAnimationFrame(label); } })
    .observe(root, { childList: true, subtree: true });
}

