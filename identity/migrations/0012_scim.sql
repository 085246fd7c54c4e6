-- SCIM 2.0 provisioning (#20): the bearer tokens a directory (Entra ID, Okta) uses, the SCIM
-- fields of people, groups with members, a bounded log of requests for the admin, held
-- deprovisionings (the blast-radius guard), and the deprovisionings applied (its hourly count,
-- shared by every app server).

create table scim_tokens (
    org_id uuid not null references orgs (id) on delete cascade,
    id uuid not null,
    name text not null check (length(name) between 1 and 100),
    -- SHA-256 of the token; only its first characters are kept in clear, for display.
    token_hash bytea not null,
    prefix text not null,
    created_at timestamptz not null default now(),
    created_by_label text not null,
    last_used_at timestamptz,
    revoked_at timestamptz,
    primary key (org_id, id)
);
create unique index scim_tokens_by_hash on scim_tokens (token_hash);

-- SCIM's userName (unique per workspace, case-insensitive), the person's SCIM document as the
-- directory last wrote it (attributes Rollcall keeps no column for: titles, phones, the
-- enterprise extension...), and when a SCIM DELETE soft-deleted them (purged 30 days later).
alter table users add column user_name text check (length(user_name) between 1 and 256);
alter table users add column scim jsonb;
alter table users add column deleted_at timestamptz;
create unique index users_user_name on users (org_id, lower(user_name)) where user_name is not null;
create index users_scim_external_id on users (org_id, (external_ids ->> 'scim')) where external_ids ? 'scim';
create index users_deleted on users (deleted_at) where deleted_at is not null;

create table groups (
    org_id uuid not null references orgs (id) on delete cascade,
    id uuid not null,
    display_name text not null check (length(display_name) between 1 and 256),
    external_id text check (length(external_id) <= 256),
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (org_id, id)
);
create unique index groups_display_name on groups (org_id, lower(display_name));
create index groups_external_id on groups (org_id, external_id) where external_id is not null;

create table group_members (
    org_id uuid not null,
    group_id uuid not null,
    user_id uuid not null,
    primary key (org_id, group_id, user_id),
    foreign key (org_id, group_id) references groups (org_id, id) on delete cascade,
    foreign key (org_id, user_id) references users (org_id, id) on delete cascade
);
create index group_members_by_user on group_members (org_id, user_id);

create table scim_requests (
    org_id uuid not null references orgs (id) on delete cascade,
    id bigint generated always as identity,
    at timestamptz not null default now(),
    token_id uuid,
    method text not null,
    path text not null,
    status integer not null,
    summary text not null,
    hint text,
    primary key (org_id, id)
);

create table scim_holds (
    org_id uuid not null references orgs (id) on delete cascade,
    id bigint generated always as identity,
    user_id uuid not null,
    action text not null check (action in ('deactivate', 'delete')),
    token_id uuid,
    held_at timestamptz not null default now(),
    decided_at timestamptz,
    decision text check (decision in ('approved', 'discarded')),
    decided_by_label text,
    primary key (org_id, id),
    foreign key (org_id, user_id) references users (org_id, id) on delete cascade
);
create unique index scim_holds_open on scim_holds (org_id, user_id, action) where decided_at is null;

create table scim_deprovisions (
    org_id uuid not null references orgs (id) on delete cascade,
    at timestamptz not null default now(),
    user_id uuid not null
);
create index scim_deprovisions_recent on scim_deprovisions (org_id, at);

-- The blast-radius guard is on unless an operator turns it off for a workspace (the SCIM
-- benchmark does: it deprovisions thousands an hour on purpose).
alter table orgs add column scim_guard boolean not null default true;
