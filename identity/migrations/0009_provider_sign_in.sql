-- Sign in with Google, Microsoft or Slack: per-workspace integrations, the provider accounts
-- people link, the sign-ins in flight, and one-time links to get back in.

-- Require SSO: members sign in only through an enabled provider; admins keep their password.
alter table orgs add column require_sso boolean not null default false;

-- One row per workspace and provider once an admin (or the CLI) has set it up.
create table integrations (
    org_id uuid not null references orgs (id) on delete cascade,
    provider text not null check (provider in ('google', 'microsoft', 'slack')),
    mode text not null check (mode in ('off', 'sso_only', 'org_connected')),
    -- The organisation connected, from a signed ID token (or vouched for by the operator):
    -- Google Workspace domain (lower case), Entra tenant id (lower-case GUID), Slack team id.
    org_key text check (length(org_key) between 1 and 255),
    connected_by uuid,
    connected_by_label text,
    connected_at timestamptz,
    updated_at timestamptz not null default now(),
    primary key (org_id, provider),
    check (mode <> 'org_connected' or org_key is not null)
);
-- One organisation belongs to one workspace.
create unique index integrations_org_key_once on integrations (provider, org_key) where org_key is not null;

-- A person's linked provider account, keyed by the provider's stable ids (never by email):
-- Google ('', sub), Entra (tid, oid), Slack (team id, user id).
create table identities (
    org_id uuid not null,
    user_id uuid not null,
    provider text not null check (provider in ('google', 'microsoft', 'slack')),
    tenant text not null,
    subject text not null check (length(subject) between 1 and 255),
    -- The signed org claim when linked (Google hd, Entra tid, Slack team id), for display.
    org_claim text,
    email text,
    linked_at timestamptz not null default now(),
    last_login_at timestamptz,
    primary key (org_id, provider, tenant, subject),
    -- One account per provider per person.
    unique (org_id, user_id, provider),
    foreign key (org_id, user_id) references users (org_id, id) on delete cascade
);
-- A sign-in looks the account up across workspaces.
create index identities_by_account on identities (provider, tenant, subject);

-- Provider sign-ins in flight: shared by every app server, single use, bound to the browser
-- that started them. Only digests of the state and of the browser's cookie are kept.
create table oidc_attempts (
    state_hash bytea primary key,
    browser_hash bytea not null,
    provider text not null,
    purpose jsonb not null,
    nonce text not null,
    pkce_verifier text not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null
);
create index oidc_attempts_by_expiry on oidc_attempts (expires_at);

-- How each session began, so disabling a provider ends the sessions it started.
alter table sessions add column method text not null default 'password';
alter table pending_logins add column method text not null default 'password';

-- One-time links to get back in (after an integration was disabled): like invitations, the
-- token is HMAC(server key, id || nonce) and only its SHA-256 is stored.
create table access_links (
    org_id uuid not null references orgs (id) on delete cascade,
    id uuid not null,
    user_id uuid not null,
    nonce bytea not null,
    token_hash bytea not null,
    reason text not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz,
    primary key (org_id, id),
    foreign key (org_id, user_id) references users (org_id, id) on delete cascade
);
create unique index access_links_token_hash on access_links (token_hash);

alter table outbox drop constraint outbox_kind_check;
alter table outbox add constraint outbox_kind_check check (kind in ('invite', 'access_link'));
alter table outbox add column access_link_id uuid;
