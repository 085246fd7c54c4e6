import { expect } from '@playwright/test';
import {
  test,
  addUser,
  addUsers,
  expectAccessible,
  expectSameDocument,
  hydrated,
  invite,
  markDocument,
  newWorkspace,
  screenshotPath,
  signIn,
  signInAsAdmin,
} from './support';

// Each test makes its own workspace and people (support.ts); the first-run test is in
// 00-first-run.spec.ts, on a server of its own.

test('signing in with a wrong password says so, then the right one gets in', async ({ page }) => {
  const { admin } = await newWorkspace();
  await page.goto('/login');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await expectAccessible(page);
  await page.getByLabel('Email').fill(admin.email);
  await page.getByLabel('Password').fill('not my password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Email or password is incorrect.');
  await expect(page.getByLabel('Email')).toHaveValue(admin.email);
  await expectAccessible(page);

  await page.getByLabel('Password').fill(admin.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/users$/);
});

test('an admin adds people, searches, and edits a profile with inline validation', async ({ page }) => {
  const ws = await newWorkspace();
  await signInAsAdmin(page, ws);

  // A few colleagues created through the same server functions the UI uses.
  for (const [given, family, email] of [
    ['Grace', 'Hopper', ws.email('grace')],
    ['Alan', 'Turing', ws.email('alan')],
    ['Katherine', 'Johnson', ws.email('katherine')],
    ['Edsger', 'Dijkstra', ws.email('edsger')],
  ]) {
    const res = await page.request.post('/api/create_user', {
      form: { email, given_name: given, family_name: family, role: 'member', password: '' },
    });
    expect(res.status()).toBe(200);
  }

  await page.goto('/users/new');
  await hydrated(page);
  await expectAccessible(page);
  await page.getByLabel('First name').fill('Mo');
  await page.getByLabel('Last name').fill('Member');
  await page.getByLabel('Email').fill(ws.email('mo'));
  await page.getByLabel('First password').fill('member password 123');
  await page.getByRole('button', { name: 'Add user' }).click();
  await expect(page).toHaveURL(/\/users\/[0-9a-f-]{36}$/);
  await expect(page.getByRole('heading', { name: 'Mo Member' })).toBeVisible();

  // Search as you type, kept in the URL.
  await page.goto('/users');
  await hydrated(page);
  await page.getByLabel('Search').fill('hopper');
  await expect(page).toHaveURL(/q=hopper/);
  await expect(page.getByRole('row')).toHaveCount(2);
  // The table changed in place: the page was not reloaded, so typing can go on.
  await expect(page.getByLabel('Search')).toBeFocused();
  await expect(page.getByRole('link', { name: 'Grace Hopper' })).toBeVisible();
  await expect(page.getByText('1–1 of 1')).toBeVisible();

  // No match says what to do; "Clear filters" brings everyone back in place.
  await markDocument(page);
  await page.getByLabel('Search').fill('nobody-by-this-name');
  await expect(page.getByText('No one matches')).toBeVisible();
  await expectAccessible(page);
  await page.getByRole('link', { name: 'Clear filters' }).click();
  await expect(page).toHaveURL(/\/users$/);
  await expect(page.getByLabel('Search')).toHaveValue('');
  await expect(page.getByRole('link', { name: 'Grace Hopper' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Alan Turing' })).toBeVisible();
  // Clearing is a step of its own in the history: Back returns to the search.
  await page.goBack();
  await expect(page).toHaveURL(/q=nobody-by-this-name/);
  await expect(page.getByText('No one matches')).toBeVisible();
  await expect(page.getByLabel('Search')).toHaveValue('nobody-by-this-name');
  await expectSameDocument(page);

  // Sorting announces itself.
  await page.goto('/users?sort=email');
  await expect(page.getByRole('columnheader', { name: /Email/ })).toHaveAttribute('aria-sort', 'ascending');
  await expectAccessible(page);

  // Edit: a bad email is refused under the field and focused; a good edit is saved.
  await page.getByRole('link', { name: 'Grace Hopper' }).click();
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Grace Hopper' })).toBeVisible();
  await page.getByLabel('Email').fill('grace@');
  await page.getByLabel('Email').evaluate((el) => el.removeAttribute('type'));
  await page.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.locator('#email-error')).toContainText('valid domain');
  await expect(page.getByLabel('Email')).toBeFocused();
  await expectAccessible(page);

  await page.getByLabel('Email').fill(ws.email('grace.hopper'));
  await page.getByLabel('Last name').fill('Brewster Hopper');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByRole('status')).toContainText('Saved Grace Brewster Hopper.');
  await expect(page.getByRole('heading', { name: 'Grace Brewster Hopper' })).toBeVisible();
});

test('deactivating a user ends their open session at once', async ({ page, browser }) => {
  const ws = await newWorkspace();
  const mo = await addUser(ws, { givenName: 'Mo', familyName: 'Member', password: 'member password 123' });

  const memberContext = await browser.newContext();
  const member = await memberContext.newPage();
  await signIn(member, mo);
  await expect(member).toHaveURL(/\/profile$/);
  await expect(member.getByRole('heading', { name: 'Your profile' })).toBeVisible();
  // Members see only their profile.
  await expect(member.getByRole('navigation', { name: 'Main' }).getByRole('link')).toHaveText(['Profile']);
  await expectAccessible(member);

  await signInAsAdmin(page, ws);
  await page.goto(`/users?q=${encodeURIComponent(mo.email)}`);
  await page.getByRole('link', { name: 'Mo Member' }).click();
  await page.getByRole('link', { name: 'Deactivate…' }).click();
  await expect(page.getByText('They are signed out everywhere at once')).toBeVisible();
  await expectAccessible(page);
  await page.getByRole('button', { name: 'Deactivate', exact: true }).click();
  await expect(page.locator('.page-header .chip')).toHaveText('Deactivated');

  await member.reload();
  await expect(member).toHaveURL(/\/login/);
  await signIn(member, mo);
  await expect(member.getByRole('alert')).toContainText('has been deactivated');
  await memberContext.close();
});

test('sorting the Users table happens in place, and Back undoes it', async ({ page }) => {
  const ws = await newWorkspace();
  const [, , mo] = await addUsers(ws, [
    { givenName: 'Alan', familyName: 'Turing' },
    { givenName: 'Grace', familyName: 'Hopper' },
    { givenName: 'Mo', familyName: 'Member' },
  ]);
  // By email, Ada (ada.…) comes first and Mo (mo.…) last.
  await signInAsAdmin(page, ws);
  await hydrated(page);
  // A mark on this document: it survives only if no click below loads a new page.
  await markDocument(page);
  const email = page.getByRole('columnheader', { name: /Email/ });
  const firstEmail = page.getByRole('row').nth(1).getByRole('cell').nth(2);

  await email.getByRole('link').click();
  await expect(page).toHaveURL(/\/users\?sort=email$/);
  await expect(email).toHaveAttribute('aria-sort', 'ascending');
  await expect(firstEmail).toHaveText(ws.admin.email);
  await email.getByRole('link').click();
  await expect(page).toHaveURL(/\/users\?sort=email&dir=desc$/);
  await expect(email).toHaveAttribute('aria-sort', 'descending');
  await expect(firstEmail).toHaveText(mo.email);

  await page.goBack();
  await expect(page).toHaveURL(/\/users\?sort=email$/);
  await expect(email).toHaveAttribute('aria-sort', 'ascending');
  await expect(firstEmail).toHaveText(ws.admin.email);
  await page.goBack();
  await expect(page).toHaveURL(/\/users$/);
  await expect(page.getByRole('columnheader', { name: /Name/ })).toHaveAttribute('aria-sort', 'ascending');
  await expectSameDocument(page);
});

// Also the README's picture of the Users tab (scripts/screenshots copies it into docs/), so its
// workspace looks real: "Acme Corp", plain addresses (ada@acme.test), people in every state. A
// second run could have made the same addresses in another "Acme Corp", so Ada signs in on the
// workspace's own page.
test('the Users tab and Activity tab, then sign out', { tag: '@screenshot' }, async ({ page }) => {
  const ws = await newWorkspace({ name: 'Acme Corp', plainEmails: true });
  const [, , , , mo] = await addUsers(ws, [
    { givenName: 'Alan', familyName: 'Turing' },
    { givenName: 'Edsger', familyName: 'Dijkstra' },
    { givenName: 'Grace', familyName: 'Hopper' },
    { givenName: 'Katherine', familyName: 'Johnson' },
    { givenName: 'Mo', familyName: 'Member', password: 'member password 123' },
  ]);

  await page.goto(`/o/${ws.slug}/login`);
  await expect(page.getByRole('heading', { name: 'Sign in to Acme Corp' })).toBeVisible();
  await expectAccessible(page);
  await page.getByLabel('Email').fill(ws.admin.email);
  await page.getByLabel('Password').fill(ws.admin.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/users$/);
  // Someone invited, and someone deactivated.
  await invite(page, [{ email: ws.email('lin'), givenName: 'Lin', familyName: 'Chen' }]);
  await page.goto(`/users?q=${encodeURIComponent(mo.email)}`);
  await page.getByRole('link', { name: 'Mo Member' }).click();
  await page.getByRole('link', { name: 'Deactivate…' }).click();
  await page.getByRole('button', { name: 'Deactivate', exact: true }).click();
  await expect(page.locator('.page-header .chip')).toHaveText('Deactivated');

  // Ada, the five added by hand and Lin.
  await page.goto('/users');
  await hydrated(page);
  await expect(page.getByText('1–7 of 7')).toBeVisible();
  await expect(page.getByRole('row', { name: /Lin Chen/ })).toContainText('Invited');
  await expect(page.getByRole('row', { name: /Mo Member/ })).toContainText('Deactivated');
  await page.screenshot({ path: screenshotPath('users-tab.png') });
  await expectAccessible(page);

  await page.getByRole('link', { name: 'Activity' }).click();
  await expect(page.getByRole('heading', { name: 'Activity' })).toBeVisible();
  await expect(page.getByRole('cell', { name: 'deactivated a user' })).toBeVisible();
  await expectAccessible(page);

  for (const section of ['Integrations', 'Provisioning', 'Settings']) {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: section }).click();
    await expect(page.getByRole('heading', { name: section })).toBeVisible();
    await expectAccessible(page);
  }

  await page.getByText('Ada Lovelace').first().click();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto('/users');
  await expect(page).toHaveURL(/\/login\?next=%2Fusers$/);
});
