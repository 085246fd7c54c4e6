-- Foundation: organisations, users, sessions, the audit log and login throttling.
-- Rule: every tenant-owned table leads its primary key (or leading index) with org_id.

create extension if not exists pg_trgm;

create or replace function touch_updated_at() returns trigger language plpgsql as $$
begin
    new.updated_at = now();
    return new;
end $$;

create table orgs (
    id uuid primary key,
    slug text not null,
    name text not null check (length(name) between 1 and 120),
    -- How long an invitation link stays valid, per organisation (issue: invites).
    invite_ttl_hours integer not null default 168 check (invite_ttl_hours between 1 and 2160),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create unique index orgs_slug_key on orgs (lower(slug));
create trigger orgs_touch before update on orgs for each row execute function touch_updated_at();

create table users (
    org_id uuid not null references orgs (id) on delete cascade,
    id uuid not null,
    email text not null check (length(email) between 3 and 254),
    given_name text not null default '' check (length(given_name) <= 100),
    family_name text not null default '' check (length(family_name) <= 100),
    role text not null check (role in ('admin', 'member')),
    status text not null check (status in ('imported', 'invited', 'active', 'deactivated', 'deleted')),
    source text not null check (source in ('manual', 'invite', 'google', 'microsoft', 'slack', 'scim')),
    -- Ids of this person in each upstream directory: {"google": "...", "scim": "..."}.
    external_ids jsonb not null default '{}',
    password_hash text,
    -- Bumped on every change; becomes the SCIM ETag.
    version bigint not null default 1,
    last_login_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    -- Kept by the database so search and sort never drift from the data.
    sort_name text generated always as (lower(btrim(given_name || ' ' || family_name)) || ' ' || lower(email)) stored,
    search_text text generated always as (lower(given_name || ' ' || family_name || ' ' || email)) stored,
    primary key (org_id, id)
);
create unique index users_email_per_org on users (org_id, lower(email));
create index users_by_name on users (org_id, sort_name, id);
create index users_by_status_name on users (org_id, status, sort_name, id);
create index users_by_created on users (org_id, created_at, id);
create index users_by_last_login on users (org_id, last_login_at, id);
create index users_search on users using gin (search_text gin_trgm_ops);
create trigger users_touch before update on users for each row execute function touch_updated_at();

-- Per-organisation counts by status, maintained per statement so the Users tab can show
-- "1-50 of 103,412" without counting 100k rows on every page view.
create table org_user_counts (
    org_id uuid not null references orgs (id) on delete cascade,
    status text not null,
    n bigint not null default 0,
    primary key (org_id, status)
);

create function users_count_insert() returns trigger language plpgsql as $$
begin
    insert into org_user_counts (org_id, status, n)
    select org_id, status, count(*) from new_rows group by org_id, status
    on conflict (org_id, status) do update set n = org_user_counts.n + excluded.n;
    return null;
end $$;

create function users_count_delete() returns trigger language plpgsql as $$
begin
    insert into org_user_counts (org_id, status, n)
    select org_id, status, -count(*) from old_rows where exists (select 1 from orgs where orgs.id = old_rows.org_id)
    group by org_id, status
    on conflict (org_id, status) do update set n = org_user_counts.n + excluded.n;
    return null;
end $$;

create function users_count_update() returns trigger language plpgsql as $$
begin
    insert into org_user_counts (org_id, status, n)
    select org_id, status, sum(delta) from (
        select org_id, status, 1 as delta from new_rows
        union all
        select org_id, status, -1 as delta from old_rows
    ) d group by org_id, status having sum(delta) <> 0
    on conflict (org_id, status) do update set n = org_user_counts.n + excluded.n;
    return null;
end $$;

create trigger users_count_ins after insert on users referencing new table as new_rows
    for each statement execute function users_count_insert();
create trigger users_count_del after delete on users referencing old table as old_rows
    for each statement execute function users_count_delete();
create trigger users_count_upd after update on users referencing old table as old_rows new table as new_rows
    for each statement execute function users_count_update();

-- Server-side sessions: the cookie holds a random token, the database only its SHA-256.
create table sessions (
    token_hash bytea primary key,
    org_id uuid not null,
    user_id uuid not null,
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    expires_at timestamptz not null,
    ip text,
    user_agent text,
    foreign key (org_id, user_id) references users (org_id, id) on delete cascade
);
create index sessions_by_user on sessions (org_id, user_id);
create index sessions_by_expiry on sessions (expires_at);

-- After a password matched accounts in several workspaces: which ones, until the person picks.
create table pending_logins (
    token_hash bytea primary key,
    user_refs jsonb not null,
    expires_at timestamptz not null
);

-- Failed sign-in counters per account and per client address, shared by every app server.
create table login_throttle (
    key text primary key,
    window_started_at timestamptz not null default now(),
    failures integer not null default 0
);

create table audit_events (
    org_id uuid not null references orgs (id) on delete cascade,
    id bigint generated always as identity,
    occurred_at timestamptz not null default now(),
    actor_id uuid,
    actor_label text not null,
    action text not null,
    target_id uuid,
    target_label text,
    details jsonb not null default '{}',
    ip text,
    request_id text,
    primary key (org_id, id)
);

-- Sign-in looks an email up across every workspace before asking which one.
create index users_by_email on users (lower(email));
