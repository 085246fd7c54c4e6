-- Reading an organisation's directory (#19): durable fetches, claimed with a lease by any app
-- server's worker (the jobs mechanism's columns), saving their cursor after each page; and what
-- the fetches saw, per workspace, provider and upstream id.

create table directory_fetches (
    org_id uuid not null references orgs (id) on delete cascade,
    id bigint generated always as identity,
    provider text not null check (provider in ('google', 'microsoft', 'slack')),
    -- Graph: read users/delta (from `cursor`, a stored delta link, when set at the start).
    delta boolean not null default false,
    -- Where the next page starts (a page token, next link or cursor); null before the first.
    cursor text,
    pages integer not null default 0,
    people integer not null default 0,
    removed integer not null default 0,
    created_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz,
    -- Graph delta's link for the next sync.
    delta_link text,
    -- The jobs mechanism's columns (identity::jobs).
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    locked_until timestamptz,
    last_error text,
    failed_at timestamptz,
    primary key (org_id, id)
);
create index directory_fetches_due on directory_fetches (next_attempt_at) where finished_at is null and failed_at is null;
-- At most one fetch per workspace and provider under way.
create unique index directory_fetches_one_running on directory_fetches (org_id, provider)
    where finished_at is null and failed_at is null;

create table directory_entries (
    org_id uuid not null references orgs (id) on delete cascade,
    provider text not null check (provider in ('google', 'microsoft', 'slack')),
    upstream_id text not null check (length(upstream_id) between 1 and 255),
    email text,
    given_name text not null default '',
    family_name text not null default '',
    -- Why an import would leave this person out (bot, guest, suspended...), if it would.
    skip_reason text,
    org_unit text,
    user_type text,
    -- The fetch that last saw this person; a finished full read marks the rest removed.
    fetch_id bigint not null,
    seen_at timestamptz not null default now(),
    removed_at timestamptz,
    primary key (org_id, provider, upstream_id)
);
