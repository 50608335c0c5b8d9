// The console in a real browser (Debian's Chromium, driven by playwright-core) against a running
// appliance. Run by hil-tests' ConsoleBrowserTest, which starts the appliance and an I/O load; by hand:
//
//   VVOLGATE_URL=http://127.0.0.1:8080 VVOLGATE_USER=admin VVOLGATE_PASSWORD=... node tests/console.e2e.mjs
//
// Environment: VVOLGATE_URL, VVOLGATE_USER, VVOLGATE_PASSWORD (required); VVOLGATE_SCREENSHOTS (folder,
// default ./screenshots); VVOLGATE_CHROMIUM (default /usr/bin/chromium); VVOLGATE_EXPECT_IOPS=0 skips
// waiting for I/O on the dashboard. Every wait has a timeout; nothing sleeps for what it can observe.
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const base = need('VVOLGATE_URL').replace(/\/$/, '');
const user = need('VVOLGATE_USER');
const password = need('VVOLGATE_PASSWORD');
const shots = resolve(process.env.VVOLGATE_SCREENSHOTS || 'screenshots');
const executablePath = process.env.VVOLGATE_CHROMIUM || '/usr/bin/chromium';
const expectIops = process.env.VVOLGATE_EXPECT_IOPS !== '0';
const suffix = Date.now().toString(36);
const volName = `e2e-vol-${suffix}`;
const snapName = `e2e-snap-${suffix}`;
const hostName = `e2e-host-${suffix}`;
const viewer = `e2e-viewer-${suffix}`;
const viewerPassword = `viewer-password-${suffix}`;
const hostNqn = `nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-${suffix.padStart(12, '0').slice(-12)}`;

const STEP_MS = 20_000;
const IOPS_MS = 90_000;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

function need(name) {
  const v = process.env[name];
  if (!v) { console.error(`console-e2e: ${name} is not set`); process.exit(2); }
  return v;
}
const log = (m) => console.log(`console-e2e: ${m}`);

mkdirSync(shots, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'vvolgate-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: DESKTOP,
  timeout: 60_000,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage'],
});
context.setDefaultTimeout(STEP_MS);
const page = context.pages()[0] || await context.newPage();
const consoleErrors = [];
page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
page.on('console', (m) => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) consoleErrors.push(`console: ${m.text()}`); });
// No request may leave the appliance: everything is bundled, nothing comes from a CDN.
const foreign = [];
page.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('data:')) foreign.push(r.url()); });

let step = 'start';
// Whole pages (what a person would scroll through), except where something fixed is the point.
const shot = async (name, fullPage = true) => { await page.screenshot({ path: join(shots, `${name}.png`), fullPage }); };
const heading = (text) => page.getByRole('heading', { level: 1, name: text });

try {
  step = 'login page';
  await page.goto(base + '/');
  await page.getByLabel('User name').waitFor();
  await shot('desktop-login');

  step = 'a wrong password is refused with a message';
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(`${password}-wrong`);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('.form-error, .field-error').first().waitFor();

  step = 'log in';
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await heading('Dashboard').waitFor();
  await page.getByTestId('who').locator('.who-name', { hasText: user }).waitFor();
  log(`logged in as ${user}`);

  step = 'dashboard shows capacity';
  await page.getByTestId('capacity').first().waitFor();

  if (expectIops) {
    step = 'dashboard shows IOPS moving while the load runs';
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=perf-container]')]
      .some((r) => Number(r.dataset.iops) > 0), null, { timeout: IOPS_MS, polling: 500 });
    const first = await maxIops(page);
    // The dashboard refreshes by itself: a later sample, without reloading the page, differs.
    await page.waitForFunction((prev) => {
      const now = Math.max(0, ...[...document.querySelectorAll('[data-testid=perf-container]')].map((r) => Number(r.dataset.iops)));
      return now > 0 && now !== prev;
    }, first, { timeout: IOPS_MS, polling: 500 });
    log(`dashboard IOPS ${first} then ${await maxIops(page)}`);
    await page.getByTestId('chart-iops').locator('canvas').waitFor();
    await page.getByRole('button', { name: 'Protocol endpoints' }).click();
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=perf-protocol_endpoint]')]
      .some((r) => Number(r.dataset.iops) > 0), null, { timeout: IOPS_MS, polling: 500 });
    await shot('desktop-dashboard-endpoints');
    await page.getByRole('button', { name: 'Containers' }).click();
    await page.getByTestId('perf-container').first().waitFor();
  }
  await shot('desktop-dashboard');

  step = 'create a volume';
  await nav('Virtual volumes');
  await heading('Virtual volumes').waitFor();
  await page.getByRole('button', { name: 'Create volume' }).click();
  const create = page.getByTestId('create-vvol');
  await create.getByLabel('Name').fill(volName);
  await create.getByLabel('Size', { exact: true }).fill('1');
  await create.getByLabel('Unit').selectOption('GiB');
  await shot('desktop-volume-create', false);
  await create.getByRole('button', { name: 'Create', exact: true }).click();
  await heading(volName).waitFor();
  log(`created ${volName}`);

  step = 'snapshot it and see the tree';
  await page.getByRole('button', { name: 'Snapshot', exact: true }).click();
  const snapDialog = page.getByRole('dialog');
  await snapDialog.getByLabel('Name').fill(snapName);
  await snapDialog.getByRole('button', { name: 'Take snapshot' }).click();
  await snapDialog.waitFor({ state: 'hidden' });
  const tree = page.getByRole('list', { name: 'Snapshot and clone tree' });
  await tree.locator(`[data-testid=tree-node][data-name="${snapName}"][data-kind=snapshot]`).waitFor();
  await tree.locator(`[data-testid=tree-node][data-name="${volName}"][data-kind=volume]`).waitFor();
  log(`snapshot ${snapName} is in the tree under ${volName}`);
  const volumeUrl = page.url();

  step = 'register a host';
  await nav('Hosts');
  await page.getByRole('button', { name: 'Register host' }).click();
  const reg = page.getByTestId('register-host');
  await reg.getByLabel('Name').fill(hostName);
  await reg.getByLabel('Host NQN').fill(hostNqn);
  await reg.getByRole('button', { name: 'Register' }).click();
  await page.locator(`[data-testid=host-row][data-name="${hostName}"]`).waitFor();
  log(`registered ${hostName}`);

  step = 'bind the volume to the host';
  await page.goto(volumeUrl);
  await heading(volName).waitFor();
  await page.getByRole('button', { name: 'Bind to host' }).click();
  const bind = page.getByRole('dialog');
  await bind.getByLabel('Host').selectOption({ label: `${hostName} — ${hostNqn}` });
  await bind.getByRole('button', { name: 'Bind', exact: true }).click();
  await page.getByTestId('binding-row').filter({ hasText: hostName }).waitFor();
  await shot('desktop-volume-detail');
  await nav('Hosts');
  await page.locator(`[data-testid=host-row][data-name="${hostName}"]`).getByRole('link', { name: volName }).waitFor();
  await shot('desktop-hosts');
  log(`bound ${volName} to ${hostName}`);

  step = 'filter volumes by host';
  await nav('Virtual volumes');
  await page.getByLabel('Host', { exact: true }).selectOption({ label: hostName });
  await page.locator(`[data-testid=vvol-row][data-name="${volName}"]`).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=vvol-row]').length === 1);
  await page.getByLabel('Host', { exact: true }).selectOption('');
  await page.getByLabel('Snapshots').selectOption({ label: 'Show' });
  await page.locator(`[data-testid=vvol-row][data-name="${snapName}"]`).waitFor();
  await shot('desktop-volumes');

  step = 'an API error is shown next to the field that caused it';
  await page.getByRole('button', { name: 'Create volume' }).click();
  await create.getByLabel('Name').fill(volName);
  await create.getByLabel('Size', { exact: true }).fill('1');
  await create.getByRole('button', { name: 'Create', exact: true }).click();
  const nameError = create.locator('.field.invalid').filter({ has: page.getByLabel('Name') }).locator('.field-error');
  await nameError.waitFor();
  log(`error under the name field: "${await nameError.innerText()}"`);
  if ((await create.getByLabel('Name').getAttribute('aria-invalid')) !== 'true') throw new Error('the name field is not marked invalid');
  await shot('desktop-api-error', false);

  step = 'an invalid size is refused by the appliance, next to the size field';
  await create.getByLabel('Name').fill(`${volName}-b`);
  await create.getByLabel('Size', { exact: true }).fill('1.001');
  await create.getByLabel('Unit').selectOption('MiB');
  await create.getByRole('button', { name: 'Create', exact: true }).click();
  const sizeError = create.locator('.field.invalid').filter({ has: page.getByLabel('Size', { exact: true }) }).locator('.field-error');
  await sizeError.waitFor();
  log(`error under the size field: "${await sizeError.innerText()}"`);
  if (await create.locator('.field.invalid').filter({ has: page.getByLabel('Name') }).count()) throw new Error('the old name error is still shown');

  step = 'Escape closes the dialog and focus returns';
  await page.keyboard.press('Escape');
  await create.waitFor({ state: 'hidden' });
  const focused = await page.evaluate(() => document.activeElement?.textContent || '');
  if (!focused.includes('Create volume')) throw new Error(`focus went to "${focused}", not back to the button that opened the dialog`);

  step = 'full clone: a task whose progress is followed';
  await page.goto(volumeUrl);
  await heading(volName).waitFor();
  await page.getByRole('button', { name: 'Full clone' }).click();
  const fullClone = page.getByRole('dialog');
  await fullClone.getByLabel('Name').fill(`${volName}-copy`);
  await fullClone.getByRole('button', { name: 'Start full copy' }).click();
  await fullClone.waitFor({ state: 'hidden' });
  await page.getByTestId('tray-task').first().waitFor();
  await nav('Tasks');
  await page.getByTestId('task-row').filter({ hasText: 'clone' }).filter({ hasText: 'success' }).first().waitFor({ timeout: 60_000 });
  await page.goto(volumeUrl);
  await page.locator(`[data-testid=tree-node][data-name="${volName}-copy"]`).waitFor();
  log('full clone finished');

  step = 'a fast clone of the snapshot appears in the tree, and is deleted after a confirmation';
  await tree.getByRole('link', { name: snapName, exact: true }).click();
  await heading(snapName).waitFor();
  await page.getByRole('button', { name: 'Fast clone' }).click();
  const fastClone = page.getByRole('dialog');
  await fastClone.getByLabel('Name').fill(`${volName}-fc`);
  await fastClone.getByRole('button', { name: 'Create linked clone' }).click();
  await fastClone.waitFor({ state: 'hidden' });
  await tree.locator(`[data-testid=tree-node][data-name="${volName}-fc"][data-kind=clone]`).waitFor();
  await tree.getByRole('link', { name: `${volName}-fc`, exact: true }).click();
  await heading(`${volName}-fc`).waitFor();
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  const confirm = page.getByTestId('confirm-dialog');
  await confirm.getByRole('button', { name: 'Delete volume' }).waitFor();
  if ((await page.evaluate(() => document.activeElement?.textContent)) !== 'Cancel') throw new Error('a confirmation does not start on Cancel');
  for (let i = 0; i < 7; i++) {
    await page.keyboard.press('Tab');
    if (!(await page.evaluate(() => !!document.activeElement?.closest('dialog[open]')))) throw new Error('Tab left the open dialog');
  }
  await shot('desktop-confirm-delete', false);
  await confirm.getByRole('button', { name: 'Delete volume' }).click();
  await heading('Virtual volumes').waitFor();
  await page.goto(volumeUrl);
  await tree.locator(`[data-testid=tree-node][data-name="${snapName}"]`).waitFor();
  await tree.locator(`[data-testid=tree-node][data-name="${volName}-fc"]`).waitFor({ state: 'detached', timeout: 30_000 });
  log('fast clone made and deleted');

  step = 'create a storage policy';
  const policy = `e2e-4k-${suffix}`;
  await nav('Containers & policies');
  await heading('Storage containers').waitFor();
  await page.getByRole('button', { name: 'Create policy' }).click();
  const policyDialog = page.getByTestId('create-profile');
  await policyDialog.getByLabel('Name').fill(policy);
  await policyDialog.getByLabel('Block size').selectOption('4096');
  await policyDialog.getByLabel('IOPS limit').fill('5000');
  await policyDialog.getByLabel('Snapshots kept').fill('8');
  await policyDialog.getByRole('button', { name: 'Create policy' }).click();
  const policyRow = page.locator(`[data-testid=profile-row][data-name="${policy}"]`);
  await policyRow.waitFor();
  await shot('desktop-policy-created');

  step = 'a policy the volume cannot meet: not compliant, and an alarm to acknowledge';
  await page.goto(volumeUrl);
  await heading(volName).waitFor();
  await page.getByRole('button', { name: 'Change policy' }).click();
  const policyChange = page.getByRole('dialog');
  await policyChange.getByLabel('Storage policy').selectOption({ label: policy });
  await policyChange.getByRole('button', { name: 'Apply policy' }).click();
  await policyChange.waitFor({ state: 'hidden' });
  await page.locator('.badge', { hasText: 'not compliant' }).waitFor();
  await page.locator('.problems li').first().waitFor();
  await shot('desktop-volume-not-compliant');
  await page.goto(base + '/activity?tab=alarms');
  const alarmRow = page.getByTestId('alarm-table').locator('tbody tr', { hasText: volName });
  await alarmRow.waitFor({ timeout: 30_000 });
  await alarmRow.getByRole('button', { name: 'Acknowledge' }).click();
  await alarmRow.getByText('acknowledged').waitFor();
  await shot('desktop-alarms-acknowledged');
  log('non-compliance alarm raised and acknowledged');

  step = 'back to no policy; the policy is deleted after a confirmation';
  await page.goto(volumeUrl);
  await heading(volName).waitFor();
  await page.getByRole('button', { name: 'Change policy' }).click();
  await policyChange.getByLabel('Storage policy').selectOption({ label: 'None' });
  await policyChange.getByRole('button', { name: 'Apply policy' }).click();
  await policyChange.waitFor({ state: 'hidden' });
  await nav('Containers & policies');
  await policyRow.getByRole('button', { name: `Delete policy ${policy}` }).click();
  await page.getByTestId('confirm-dialog').getByRole('button', { name: 'Delete policy' }).click();
  await policyRow.waitFor({ state: 'detached' });
  log(`policy ${policy} created, applied, removed and deleted`);

  step = 'an admin adds a viewer';
  await nav('Users');
  await heading('Users').waitFor();
  await page.getByRole('button', { name: 'Add user' }).click();
  const userDialog = page.getByRole('dialog');
  await userDialog.getByLabel('User name').fill(viewer);
  await userDialog.getByLabel('Password').fill(viewerPassword);
  await userDialog.getByLabel('Role').selectOption('viewer');
  await userDialog.getByRole('button', { name: 'Add user' }).click();
  await page.getByRole('row').filter({ hasText: viewer }).waitFor();
  await shot('desktop-users');

  step = 'keyboard: tab order starts with the skip link, focus is visible';
  await page.goto(base + '/containers');
  await heading('Storage containers').waitFor();
  await page.keyboard.press('Tab');
  if (!(await page.evaluate(() => document.activeElement?.classList.contains('skip-link')))) throw new Error('the first Tab does not reach the skip link');

  step = 'every main page at 1280×800';
  await pages('desktop');

  step = 'every main page at phone width';
  await page.setViewportSize(PHONE);
  await page.goto(base + '/');
  await heading('Dashboard').waitFor();
  await page.getByRole('button', { name: 'Menu' }).click();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Virtual volumes' }).waitFor({ state: 'visible' });
  await shot('phone-menu', false);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Virtual volumes' }).click();
  await heading('Virtual volumes').waitFor();
  await pages('phone');
  await page.goto(volumeUrl);
  await heading(volName).waitFor();
  await page.getByTestId('binding-row').first().waitFor();
  await page.locator(`[data-testid=tree-node][data-name="${snapName}"]`).waitFor();
  await shot('phone-volume-detail');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 2) throw new Error(`the volume page is ${overflow}px wider than a phone screen`);
  await page.setViewportSize(DESKTOP);

  step = 'log out';
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByLabel('User name').waitFor();
  step = 'after logging out the API refuses the old session';
  await page.goto(base + '/volumes');
  await page.getByLabel('User name').waitFor();
  log('logged out');

  step = 'a viewer sees everything and is offered no changes';
  await page.getByLabel('User name').fill(viewer);
  await page.getByLabel('Password').fill(viewerPassword);
  await page.getByRole('button', { name: 'Log in' }).click();
  await heading('Virtual volumes').waitFor();
  await page.locator(`[data-testid=vvol-row][data-name="${volName}"]`).waitFor();
  await page.getByTestId('who').locator('.role.viewer').waitFor();
  for (const [what, locator] of [
    ['a Create volume button', page.getByRole('button', { name: 'Create volume' })],
    ['a Users page', page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' })],
  ]) if (await locator.count()) throw new Error(`a viewer is offered ${what}`);
  await page.goto(volumeUrl);
  await heading(volName).waitFor();
  await page.getByTestId('binding-row').first().waitFor();
  if (await page.getByRole('toolbar', { name: 'Volume actions' }).count()) throw new Error('a viewer is offered volume actions');
  if (await page.getByRole('button', { name: 'Unbind' }).count()) throw new Error('a viewer is offered Unbind');
  await shot('desktop-viewer-volume');
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByLabel('User name').waitFor();
  log('a viewer is offered no changes');

  if (foreign.length) throw new Error(`requests left the appliance: ${foreign.slice(0, 5).join(', ')}`);
  if (consoleErrors.length) throw new Error(`the page reported errors:\n  ${consoleErrors.join('\n  ')}`);
  console.log(`console-e2e: passed; screenshots in ${shots}`);
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  process.exit(0);
} catch (e) {
  console.error(`console-e2e: FAILED at step "${step}": ${e.message}`);
  if (consoleErrors.length) console.error(`  the page reported:\n  ${consoleErrors.join('\n  ')}`);
  try { await shot('failure'); console.error(`  screenshot: ${join(shots, 'failure.png')}`); } catch { /* the browser is gone */ }
  await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  process.exit(1);
}

async function maxIops(p) {
  return p.evaluate(() => Math.max(0, ...[...document.querySelectorAll('[data-testid=perf-container]')].map((r) => Number(r.dataset.iops))));
}

async function nav(label) {
  const menu = page.getByRole('button', { name: 'Menu' });
  if (await menu.isVisible()) await menu.click();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label }).click();
}

/** Visits each main page and keeps a screenshot of it. */
async function pages(prefix) {
  const list = [
    ['/', 'Dashboard', 'dashboard', '[data-testid=capacity]'],
    ['/volumes', 'Virtual volumes', 'volumes', '[data-testid=vvol-row]'],
    ['/containers', 'Storage containers', 'containers', '[data-testid=container-card]'],
    ['/hosts', 'Hosts', 'hosts', '[data-testid=host-row]'],
    ['/endpoints', 'Protocol endpoints', 'endpoints', '[data-testid=pe-row]'],
    ['/devices', 'Devices', 'devices', '[data-testid=device-row]'],
    ['/tasks', 'Tasks', 'tasks', '[data-testid=task-table]'],
    ['/activity?tab=events', 'Events & alarms', 'events', '[data-testid=event-table]'],
    ['/activity?tab=alarms', 'Events & alarms', 'alarms', '[data-testid=alarm-table]'],
    ['/activity?tab=audit', 'Events & alarms', 'audit', '[data-testid=audit-table] tbody tr'],
  ];
  for (const [path, title, name, ready] of list) {
    step = `${prefix} ${name}`;
    await page.goto(base + path);
    await heading(title).waitFor();
    // Attached, not visible: an empty list is a table without rows (and a message).
    await page.locator(ready).first().waitFor({ state: 'attached' });
    if (name === 'dashboard' && expectIops) await page.getByTestId('chart-iops').locator('canvas').waitFor();
    await shot(`${prefix}-${name}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 2) throw new Error(`the ${name} page is ${overflow}px wider than the window (${prefix})`);
  }
}
