-- Invitations by email, the mail outbox that delivers them, and the fingerprint of the server
-- key that invite links are derived from.

-- One row: lets a server with a different ROLLCALL_SECRET_KEY refuse to start instead of
-- silently issuing links the other servers cannot verify.
create table server_key (
    id integer primary key default 1 check (id = 1),
    fingerprint bytea not null,
    created_at timestamptz not null default now()
);

create table invites (
    org_id uuid not null references orgs (id) on delete cascade,
    id uuid not null,
    user_id uuid not null,
    -- The link's token is HMAC(server key, id || nonce): never stored; only its SHA-256 is.
    nonce bytea not null,
    token_hash bytea not null,
    invited_by uuid,
    invited_by_label text not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    accepted_at timestamptz,
    revoked_at timestamptz,
    -- Set when a resend replaced this invite with a new link.
    superseded_at timestamptz,
    primary key (org_id, id),
    foreign key (org_id, user_id) references users (org_id, id) on delete cascade
);
create unique index invites_token_hash on invites (token_hash);
create index invites_by_user on invites (org_id, user_id, created_at desc);
-- At most one usable invite per person.
create unique index invites_one_open_per_user on invites (org_id, user_id)
    where accepted_at is null and revoked_at is null and superseded_at is null;

-- Mail to send, written in the same transaction as the change that causes it. Bodies are
-- rendered when sent (so no link secret is ever stored); workers on any server claim rows with
-- FOR UPDATE SKIP LOCKED and a lease.
create table outbox (
    org_id uuid not null references orgs (id) on delete cascade,
    id bigint generated always as identity,
    kind text not null check (kind in ('invite')),
    invite_id uuid,
    recipient text not null,
    subject text not null,
    created_at timestamptz not null default now(),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    locked_until timestamptz,
    sent_at timestamptz,
    failed_at timestamptz,
    last_error text,
    primary key (org_id, id)
);
create index outbox_due on outbox (next_attempt_at) where sent_at is null and failed_at is null;
create index outbox_by_invite on outbox (org_id, invite_id);
