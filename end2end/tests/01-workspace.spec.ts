import { expect, test } from '@playwright/test';
import { ADMIN, MEMBER, expectAccessible, expectSameDocument, hydrated, markDocument } from './support';

// The suite follows one workspace through its life, in order.
test.describe.configure({ mode: 'serial' });

test('first run: an empty server asks to create a workspace and its admin', async ({ page }) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/setup$/);
  await expect(page.getByRole('heading', { name: 'Create your workspace' })).toBeVisible();
  await expectAccessible(page);

  await page.getByLabel('Organisation name').fill('Acme Corp');
  await page.getByLabel('Your first name').fill('Ada');
  await page.getByLabel('Your last name').fill('Lovelace');
  await page.getByLabel('Work email').fill(ADMIN.email);
  await page.getByLabel('Password').fill('too short');
  await page.getByRole('button', { name: 'Create workspace' }).click();

  // The error is shown under the field and what was typed is kept.
  await expect(page.locator('#password-error')).toHaveText('Use at least 10 characters.');
  await expect(page.getByLabel('Organisation name')).toHaveValue('Acme Corp');
  await expectAccessible(page);

  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Create workspace' }).click();
  await expect(page).toHaveURL(/\/users$/);
  await expect(page.getByRole('link', { name: 'Ada Lovelace' })).toBeVisible();
  await expect(page.locator('.org-name')).toHaveText('Acme Corp');
  await expectAccessible(page);
});

test('signing in with a wrong password says so, then the right one gets in', async ({ page }) => {
  await page.goto('/login');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await expectAccessible(page);
  await page.getByLabel('Email').fill(ADMIN.email);
  await page.getByLabel('Password').fill('not my password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Email or password is incorrect.');
  await expect(page.getByLabel('Email')).toHaveValue(ADMIN.email);
  await expectAccessible(page);

  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/users$/);
});

async function signIn(page: import('@playwright/test').Page, who: { email: string; password: string }) {
  await page.goto('/login');
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('an admin adds people, searches, and edits a profile with inline validation', async ({ page }) => {
  await signIn(page, ADMIN);
  await expect(page).toHaveURL(/\/users$/);

  // A few colleagues created through the same server functions the UI uses.
  for (const [given, family, email] of [
    ['Grace', 'Hopper', 'grace@acme.test'],
    ['Alan', 'Turing', 'alan@acme.test'],
    ['Katherine', 'Johnson', 'katherine@acme.test'],
    ['Edsger', 'Dijkstra', 'edsger@acme.test'],
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
  await page.getByLabel('Email').fill(MEMBER.email);
  await page.getByLabel('First password').fill(MEMBER.password);
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

  await page.getByLabel('Email').fill('grace.hopper@acme.test');
  await page.getByLabel('Last name').fill('Brewster Hopper');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByRole('status')).toContainText('Saved Grace Brewster Hopper.');
  await expect(page.getByRole('heading', { name: 'Grace Brewster Hopper' })).toBeVisible();
});

test('deactivating a user ends their open session at once', async ({ page, browser }) => {
  const memberContext = await browser.newContext();
  const member = await memberContext.newPage();
  await signIn(member, MEMBER);
  await expect(member).toHaveURL(/\/profile$/);
  await expect(member.getByRole('heading', { name: 'Your profile' })).toBeVisible();
  // Members see only their profile.
  await expect(member.getByRole('navigation', { name: 'Main' }).getByRole('link')).toHaveText(['Profile']);
  await expectAccessible(member);

  await signIn(page, ADMIN);
  await page.goto('/users?q=mo%40acme');
  await page.getByRole('link', { name: 'Mo Member' }).click();
  await page.getByRole('link', { name: 'Deactivate…' }).click();
  await expect(page.getByText('They are signed out everywhere at once')).toBeVisible();
  await expectAccessible(page);
  await page.getByRole('button', { name: 'Deactivate', exact: true }).click();
  await expect(page.locator('.page-header .chip')).toHaveText('Deactivated');

  await member.reload();
  await expect(member).toHaveURL(/\/login/);
  await signIn(member, MEMBER);
  await expect(member.getByRole('alert')).toContainText('has been deactivated');
  await memberContext.close();
});

test('sorting the Users table happens in place, and Back undoes it', async ({ page }) => {
  await signIn(page, ADMIN);
  await expect(page).toHaveURL(/\/users$/);
  await hydrated(page);
  // A mark on this document: it survives only if no click below loads a new page.
  await markDocument(page);
  const email = page.getByRole('columnheader', { name: /Email/ });
  const firstEmail = page.getByRole('row').nth(1).getByRole('cell').nth(2);

  await email.getByRole('link').click();
  await expect(page).toHaveURL(/\/users\?sort=email$/);
  await expect(email).toHaveAttribute('aria-sort', 'ascending');
  await expect(firstEmail).toHaveText('ada@acme.test');
  await email.getByRole('link').click();
  await expect(page).toHaveURL(/\/users\?sort=email&dir=desc$/);
  await expect(email).toHaveAttribute('aria-sort', 'descending');
  await expect(firstEmail).toHaveText('mo@acme.test');

  await page.goBack();
  await expect(page).toHaveURL(/\/users\?sort=email$/);
  await expect(email).toHaveAttribute('aria-sort', 'ascending');
  await expect(firstEmail).toHaveText('ada@acme.test');
  await page.goBack();
  await expect(page).toHaveURL(/\/users$/);
  await expect(page.getByRole('columnheader', { name: /Name/ })).toHaveAttribute('aria-sort', 'ascending');
  await expectSameDocument(page);
});

test('the Users tab and Activity tab, then sign out', async ({ page }) => {
  await signIn(page, ADMIN);
  await expect(page).toHaveURL(/\/users$/);
  await hydrated(page);
  await expect(page.getByText('1–6 of 6')).toBeVisible();
  await page.screenshot({ path: '../docs/users-tab.png' });

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
