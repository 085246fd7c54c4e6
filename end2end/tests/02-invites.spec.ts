import { expect } from '@playwright/test';
import {
  test,
  acceptInvite,
  addUser,
  addUsers,
  expectAccessible,
  hydrated,
  invite,
  literally,
  newWorkspace,
  openUser,
  orgIdOf,
  signInAsAdmin,
  sql,
  waitForLinks,
} from './support';

// Each test makes its own workspace and the people it invites (support.ts). Their addresses
// are theirs alone, so the mail each test reads in the Maildir is its own.

test('an admin invites two people; an invalid address in the list shows its error', async ({ page }) => {
  const ws = await newWorkspace();
  const [lin, ken] = [ws.email('lin'), ws.email('ken')];
  await signInAsAdmin(page, ws);
  await page.getByRole('link', { name: 'Invite people' }).click();
  await hydrated(page);
  await expectAccessible(page);
  await page.getByLabel('Email addresses').fill(`${lin}, not-an-email\n${ken}`);
  await page.getByRole('button', { name: 'Preview' }).click();

  const preview = page.getByRole('region', { name: 'Preview' }).or(page.locator('section[aria-labelledby="preview-heading"]'));
  await expect(preview.getByRole('row', { name: /not-an-email/ })).toContainText('is missing an @');
  await expect(preview.getByText('New invite')).toHaveCount(2);
  await expect(page.getByText('2 will be invited, 1 invalid. Nothing is sent until you confirm.')).toBeVisible();
  await expectAccessible(page);

  await page.getByRole('button', { name: 'Send 2 invitations' }).click();
  await expect(page.getByRole('heading', { name: 'Sent 2 invitations' })).toBeVisible();
  await page.getByRole('link', { name: 'See invited people' }).click();
  await expect(page.getByRole('link', { name: lin })).toBeVisible();
  await expect(page.getByRole('row', { name: literally(lin) })).toContainText('Invited');
});

test('the invited person opens the mailed link, sets a password and lands signed in', async ({ page, browser }) => {
  const ws = await newWorkspace();
  const lin = ws.email('lin');
  await signInAsAdmin(page, ws);
  await invite(page, [{ email: lin }]);

  const [link] = await waitForLinks(lin, 1);
  const context = await browser.newContext();
  const invited = await context.newPage();
  await invited.goto(link);
  await expect(invited.getByRole('heading', { name: `Join ${ws.name}` })).toBeVisible();
  await expect(invited.getByText(`invited you as ${lin}`)).toBeVisible();
  await expectAccessible(invited);
  await invited.getByLabel('First name').fill('Lin');
  await invited.getByLabel('Last name').fill('Chen');
  await invited.getByLabel('Password').fill('lin has a long password');
  await invited.getByRole('button', { name: `Join ${ws.name}` }).click();
  await expect(invited).toHaveURL(/\/profile$/);
  await expect(invited.getByRole('heading', { name: 'Your profile' })).toBeVisible();
  await expect(invited.locator('.user-menu summary')).toContainText('Lin Chen');

  // The link works once.
  const other = await browser.newContext();
  const again = await other.newPage();
  await again.goto(link);
  await expect(again.getByRole('heading', { name: 'This invitation has already been used' })).toBeVisible();
  await context.close();
  await other.close();
});

test('resending invalidates the first link; revoking invalidates the second', async ({ page, browser }) => {
  const ws = await newWorkspace();
  const ken = ws.email('ken');
  await signInAsAdmin(page, ws);
  await invite(page, [{ email: ken }]);

  const [first] = await waitForLinks(ken, 1);
  await openUser(page, ken);
  await expect(page.getByRole('heading', { name: 'Invitation' })).toBeVisible();
  await expectAccessible(page);
  await page.getByRole('button', { name: 'Resend' }).click();
  await expect(page.getByRole('status')).toContainText('The previous link no longer works');
  const links = await waitForLinks(ken, 2);
  // The resend's link is the one that is not the first (both mails may carry the same second).
  const second = links.find((l) => l !== first) ?? first;
  expect(second).not.toBe(first);

  const visitorContext = await browser.newContext();
  const visitor = await visitorContext.newPage();
  await visitor.goto(first);
  await expect(visitor.getByRole('heading', { name: 'This invitation is no longer valid' })).toBeVisible();
  await expectAccessible(visitor);
  await visitor.goto(second);
  await expect(visitor.getByRole('heading', { name: `Join ${ws.name}` })).toBeVisible();

  await page.getByRole('button', { name: 'Revoke' }).click();
  await expect(page.getByRole('status')).toContainText('Invitation revoked');
  await expect(page.getByText('Not invited yet.')).toBeVisible();
  await visitor.reload();
  await expect(visitor.getByRole('heading', { name: 'This invitation is no longer valid' })).toBeVisible();
  await visitorContext.close();
});

test('an expired link says so and what to do', async ({ page, browser }) => {
  const ws = await newWorkspace();
  // Added by hand, not invited yet.
  const ken = await addUser(ws, { givenName: 'Ken', familyName: 'Thompson' });
  await signInAsAdmin(page, ws);
  await openUser(page, ken.email);
  await page.getByRole('button', { name: 'Send invitation' }).click();
  await expect(page.getByRole('status')).toContainText('Invitation sent');
  const [link] = await waitForLinks(ken.email, 1);
  // Only this workspace's open invitations: other tests' run alongside.
  sql(
    `update invites set expires_at = now() - interval '1 hour' where org_id = ${orgIdOf(ws)} and accepted_at is null and revoked_at is null and superseded_at is null`,
  );

  const visitorContext = await browser.newContext();
  const visitor = await visitorContext.newPage();
  await visitor.goto(link);
  await expect(visitor.getByRole('heading', { name: 'This invitation has expired' })).toBeVisible();
  await expect(visitor.getByText('Ask Ada Lovelace to send you a new one')).toBeVisible();
  await expectAccessible(visitor);

  await page.reload();
  await expect(page.getByText(/expired/)).toBeVisible();
  await visitorContext.close();
});

test('people added by hand are invited from the table, several at once', async ({ page }) => {
  const ws = await newWorkspace();
  const [, alan, , edsger] = await addUsers(ws, [
    { givenName: 'Grace', familyName: 'Hopper' },
    { givenName: 'Alan', familyName: 'Turing' },
    { givenName: 'Katherine', familyName: 'Johnson' },
    { givenName: 'Edsger', familyName: 'Dijkstra' },
  ]);
  await signInAsAdmin(page, ws);
  await page.goto('/users?status=imported');
  await hydrated(page);
  await expect(page.getByText('1–4 of 4')).toBeVisible();
  const bar = page.getByRole('region', { name: 'Bulk actions' });
  const rowBoxes = page.locator('tbody input[type=checkbox]');
  // The whole page at once, and back: every row shows it.
  const wholePage = page.getByRole('checkbox', { name: 'Select every user on this page' });
  await wholePage.check();
  await expect(bar).toContainText('4 selected');
  await expect(page.locator('tbody input:checked')).toHaveCount(4);
  await expect(page.locator('tbody tr.selected')).toHaveCount(4);
  await wholePage.uncheck();
  await expect(bar).toBeHidden();
  await expect(page.locator('tbody input:checked')).toHaveCount(0);
  await expect(rowBoxes).toHaveCount(4);
  await page.getByRole('checkbox', { name: 'Select Alan Turing' }).check();
  await page.getByRole('checkbox', { name: 'Select Edsger Dijkstra' }).check();
  await expect(bar).toContainText('2 selected');
  await expect(page.getByRole('row', { name: /Alan Turing/ })).toHaveClass('selected');
  await expect(wholePage).not.toBeChecked();
  await expectAccessible(page);
  await bar.getByRole('button', { name: 'Send invites' }).click();
  await expect(page.getByRole('status')).toContainText('Sent 2 invitations.');
  await expect(page.getByText('1–2 of 2')).toBeVisible();
  await waitForLinks(alan.email, 1);
  await waitForLinks(edsger.email, 1);
});

test('the outbox lists every mail with its delivery status', async ({ page, browser }) => {
  const ws = await newWorkspace();
  const lin = ws.email('lin');
  await signInAsAdmin(page, ws);
  await invite(page, [{ email: lin }]);
  const [link] = await waitForLinks(lin, 1);
  await acceptInvite(browser, link, ws, { givenName: 'Lin', familyName: 'Chen', password: 'lin has a long password' });

  await page.goto('/users');
  await page.getByRole('link', { name: 'Email outbox' }).click();
  await expect(page.getByRole('heading', { name: 'Email outbox' })).toBeVisible();
  // The SMTP server has had the mail for a while; should the outbox note the delivery later
  // than the page was drawn, it shows on a reload.
  const row = page.getByRole('row', { name: literally(lin) });
  await expect(async () => {
    await expect(row).toContainText('Sent', { timeout: 2_000 }).catch(async (error) => {
      await page.reload();
      throw error;
    });
  }).toPass({ timeout: 20_000 });
  await expectAccessible(page);
  await page.getByRole('link', { name: 'Activity' }).click();
  await expect(page.getByRole('cell', { name: 'accepted an invitation' })).toBeVisible();
});
