import { useEffect, useState } from 'preact/hooks';
import { api, can } from '../api.js';
import { usePoll, PageHeader, LoadError, Empty, Dialog, Field, FormError, useSubmit, ConfirmDialog, notify } from '../components.jsx';
import { dateTime } from '../format.js';

export function Users({ session }) {
  useEffect(() => { document.title = 'Users · vvolgate'; }, []);
  const users = usePoll(() => (can('admin', session) ? api.users() : Promise.resolve([])), [], 0);
  const [creating, setCreating] = useState(false);
  const [removing, setRemoving] = useState(null);
  const [password, setPassword] = useState(null);
  if (!can('admin', session)) return <><PageHeader title="Users" /><Empty>Only an administrator manages users.</Empty></>;
  return (
    <>
      <PageHeader title="Users" subtitle="Who may log in, and what their role allows: viewers read, operators change storage and hosts, admins also manage users">
        <button type="button" class="primary" onClick={() => setCreating(true)}>+ Add user</button>
      </PageHeader>
      <LoadError error={users.error} onRetry={users.reload} />
      <div class="card flush">
        <div class="table-wrap">
          <table class="table stack" aria-label="Users">
            <thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col" class="hide-sm">Created</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {(users.data || []).map((u) => (
                <tr key={u.username}>
                  <th scope="row">{u.username}</th>
                  <td><span class={`role ${u.role}`}>{u.role}</span></td>
                  <td class="hide-sm">{dateTime(u.createdAt)}</td>
                  <td class="actions">
                    <button type="button" class="small" onClick={() => setPassword(u)}>Set password</button>{' '}
                    {u.username !== session.username && <button type="button" class="small danger-outline" onClick={() => setRemoving(u)}>Remove</button>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {users.data?.length === 0 && <Empty>No users.</Empty>}
      </div>
      <CreateUser open={creating} onClose={() => setCreating(false)} onDone={(u) => { setCreating(false); notify(`User ${u.username} added`); users.reload(); }} />
      <PasswordDialog user={password} onClose={() => setPassword(null)} />
      <ConfirmDialog open={!!removing} onClose={() => setRemoving(null)} title={`Remove ${removing?.username}?`} confirmLabel="Remove user"
        onConfirm={async () => { await api.deleteUser(removing.username); notify(`User ${removing.username} removed`); users.reload(); return true; }}>
        <p><strong>{removing?.username}</strong> can no longer log in; their sessions end now.</p>
      </ConfirmDialog>
    </>
  );
}

function CreateUser({ open, onClose, onDone }) {
  const [u, setU] = useState({ username: '', password: '', role: 'viewer' });
  const { busy, error, setError, run } = useSubmit(async () => onDone(await api.createUser({ ...u, username: u.username.trim() })) ?? true);
  useEffect(() => { if (open) { setU({ username: '', password: '', role: 'viewer' }); setError(null); } }, [open]);
  return (
    <Dialog open={open} title="Add a user" onClose={onClose}
      footer={<><button type="button" onClick={onClose}>Cancel</button><button type="submit" form="user-form" class="primary" disabled={busy}>{busy ? 'Adding…' : 'Add user'}</button></>}>
      <form id="user-form" onSubmit={(e) => { e.preventDefault(); run(); }}>
        <Field label="User name" name="username" error={error} hint="Lower-case letters, digits, . _ -">
          {(p) => <input {...p} value={u.username} onInput={(e) => setU({ ...u, username: e.target.value })} required autofocus autocomplete="off" />}
        </Field>
        <Field label="Password" name="password" error={error} hint="At least 12 characters">
          {(p) => <input {...p} type="password" value={u.password} onInput={(e) => setU({ ...u, password: e.target.value })} required autocomplete="new-password" />}
        </Field>
        <Field label="Role" name="role" error={error}>
          {(p) => <select {...p} value={u.role} onChange={(e) => setU({ ...u, role: e.target.value })}><option value="viewer">viewer — reads</option><option value="operator">operator — changes storage and hosts</option><option value="admin">admin — also manages users</option></select>}
        </Field>
        <FormError error={error} fields={['username', 'password', 'role']} />
      </form>
    </Dialog>
  );
}

function PasswordDialog({ user, onClose }) {
  const [password, setPassword] = useState('');
  const { busy, error, setError, run } = useSubmit(async () => { await api.setPassword(user.username, password); notify('Password changed'); onClose(); return true; });
  useEffect(() => { if (user) { setPassword(''); setError(null); } }, [user]);
  return (
    <Dialog open={!!user} title={`Set the password of ${user?.username}`} onClose={onClose}
      footer={<><button type="button" onClick={onClose}>Cancel</button><button type="submit" form="pw-form" class="primary" disabled={busy}>Set password</button></>}>
      <form id="pw-form" onSubmit={(e) => { e.preventDefault(); run(); }}>
        <Field label="New password" name="password" error={error} hint="At least 12 characters">
          {(p) => <input {...p} type="password" value={password} onInput={(e) => setPassword(e.target.value)} required autocomplete="new-password" autofocus />}
        </Field>
        <FormError error={error} fields={['password']} />
      </form>
    </Dialog>
  );
}
