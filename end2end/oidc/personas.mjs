// Who someone is at the local OpenID providers (oidc/issuers.mjs), derived from nothing but the
// email address they sign in with: the same address always gets the same subject, tenant, team
// and name. Pure functions, shared by the providers and by the Playwright tests (which import
// them from TypeScript: see personas.d.mts), so a test can say what a token will carry.
//
// Rules every provider follows:
// - identifiers come from the address trimmed and lowercased (`normalizeEmail`); the `email`
//   claim is the address as typed, trimmed;
// - the address is verified unless its local part starts with `unverified`;
// - the name comes from the local part: words split on . _ + -, words with a digit dropped
//   (the random tag tests add), a leading `unverified` dropped, each capitalised:
//   ada.x1y2@acme.test -> "Ada"; ada.lovelace.3f9c@acme.test -> "Ada Lovelace".
import { createHash } from 'node:crypto';

/** The one organisation tenant of the Microsoft-like provider: every account is in it... */
export const MICROSOFT_TENANT = '4a1f6b0e-2c3d-4e5f-8a9b-0c1d2e3f4a5b';
/** ...but addresses at outlook.test, which get Microsoft's real consumer (MSA) tenant. */
export const MICROSOFT_CONSUMER_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';
/** Addresses at this domain are personal Microsoft accounts (tenant MICROSOFT_CONSUMER_TENANT). */
export const MICROSOFT_CONSUMER_DOMAIN = 'outlook.test';
/** Addresses at this domain, or one starting with `personal`, are consumer Google accounts. */
export const GOOGLE_CONSUMER_DOMAIN = 'gmail.test';

function sha256(text) {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The address trimmed and lowercased: what every identifier is derived from. */
export function normalizeEmail(email) {
  return String(email).trim().toLowerCase();
}

/** The part after the last `@`, lowercased. */
export function emailDomain(email) {
  const address = normalizeEmail(email);
  return address.slice(address.lastIndexOf('@') + 1);
}

/** The part before the last `@`, lowercased. */
export function emailLocalPart(email) {
  const address = normalizeEmail(email);
  const at = address.lastIndexOf('@');
  return at < 0 ? address : address.slice(0, at);
}

/** Whether the provider vouches for the address: yes unless its local part starts with `unverified`. */
export function emailVerified(email) {
  return !emailLocalPart(email).startsWith('unverified');
}

const capitalise = (word) => word.charAt(0).toUpperCase() + word.slice(1);

/**
 * The person's names: `name` always; `given_name` and, when the local part has two or more
 * name words, `family_name` (ada.lovelace.3f9c -> Ada / Lovelace).
 */
export function personaNames(email) {
  const local = emailLocalPart(email);
  let words = local.split(/[._+-]+/).filter((word) => word && !/\d/.test(word));
  if (words[0] === 'unverified') words = words.slice(1);
  if (words.length === 0) return { name: local, given_name: local };
  const [given, ...family] = words.map(capitalise);
  return family.length
    ? { name: [given, ...family].join(' '), given_name: given, family_name: family.join(' ') }
    : { name: given, given_name: given };
}

// --- Google ---------------------------------------------------------------------------------

/**
 * Google's `sub`: 21 decimal digits starting with 1, like Google's own (1 followed by the first
 * 96 bits of sha256(lowercased address), reduced mod 10^20 and zero-padded).
 */
export function googleSubject(email) {
  const bits = BigInt(`0x${sha256(normalizeEmail(email)).subarray(0, 12).toString('hex')}`);
  return `1${(bits % 10n ** 20n).toString().padStart(20, '0')}`;
}

/**
 * Google's `hd` (hosted domain): the address's domain for a Workspace account; undefined for a
 * consumer account, i.e. at gmail.test or at a domain starting with `personal`.
 */
export function googleHd(email) {
  const domain = emailDomain(email);
  if (domain === GOOGLE_CONSUMER_DOMAIN || domain.startsWith('personal')) return undefined;
  return domain;
}

// --- Microsoft ------------------------------------------------------------------------------

/** A GUID (8-4-4-4-12 lowercase hex) from the first 16 bytes of sha256(text). */
function guid(text) {
  const hex = sha256(text).subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Microsoft's `tid`: MICROSOFT_CONSUMER_TENANT at outlook.test, MICROSOFT_TENANT everywhere else. */
export function microsoftTenant(email) {
  return emailDomain(email) === MICROSOFT_CONSUMER_DOMAIN ? MICROSOFT_CONSUMER_TENANT : MICROSOFT_TENANT;
}

/**
 * Microsoft's `oid`, the account's object id in its tenant: a GUID from sha256("oid:" + lowercased
 * address). A personal account's starts 00000000-0000-0000-, as real MSA ones do.
 */
export function microsoftObjectId(email) {
  const id = guid(`oid:${normalizeEmail(email)}`);
  return microsoftTenant(email) === MICROSOFT_CONSUMER_TENANT ? `00000000-0000-0000-${id.slice(19)}` : id;
}

/**
 * Microsoft's `sub`, pairwise like Microsoft's (it differs per application and is never the oid):
 * 43 characters of base64url(sha256("sub:" + client id + ":" + lowercased address)).
 */
export function microsoftSubject(email, clientId = 'rollcall-microsoft') {
  return sha256(`sub:${clientId}:${normalizeEmail(email)}`).toString('base64url').slice(0, 43);
}

// --- Slack ----------------------------------------------------------------------------------

/** Slack's user id (`sub` and `https://slack.com/user_id`): "U" + 10 uppercase hex of sha256(lowercased address). */
export function slackUserId(email) {
  return `U${sha256(normalizeEmail(email)).toString('hex').slice(0, 10).toUpperCase()}`;
}

/** Slack's team (workspace) id, `https://slack.com/team_id`: "T" + 10 uppercase hex of sha256(domain). */
export function slackTeamId(email) {
  return `T${sha256(emailDomain(email)).toString('hex').slice(0, 10).toUpperCase()}`;
}

/** Slack's team name and domain: from the address's domain's first label (acme.test -> Acme, acme). */
export function slackTeam(email) {
  const label = emailDomain(email).split('.')[0];
  return { name: capitalise(label), domain: label };
}
