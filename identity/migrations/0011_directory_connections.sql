-- Connected directories (#19): the read access an administrator of the organisation's
-- directory granted, its tokens sealed (identity::secrets::sealed, bound to the workspace and
-- provider), its health as the card shows it, and its sync schedule.

create table directory_connections (
    org_id uuid not null references orgs (id) on delete cascade,
    provider text not null check (provider in ('google', 'microsoft', 'slack')),
    -- The directory's organisation: the integration's org key when it was connected.
    directory_key text not null check (length(directory_key) between 1 and 255),
    -- Google: a refresh token, and the access token it last gave; Slack: the bot token
    -- (no expiry); Microsoft: the last app-only token (client credentials make new ones).
    access_token bytea,
    access_expires_at timestamptz,
    refresh_token bytea,
    scope text,
    -- 'ok', or why the directory cannot be read until an admin reconnects.
    status text not null default 'ok' check (status in ('ok', 'lost_access', 'missing_scope')),
    status_detail text,
    connected_by uuid,
    connected_by_label text not null,
    connected_at timestamptz not null default now(),
    -- Sync automatically every this many hours (null: only on demand); the next is due then.
    sync_every_hours integer check (sync_every_hours in (6, 12, 24)),
    next_sync_at timestamptz,
    primary key (org_id, provider),
    foreign key (org_id, provider) references integrations (org_id, provider) on delete cascade
);
-- The workers' schedule scan.
create index directory_connections_due on directory_connections (next_sync_at) where sync_every_hours is not null;

-- Why a fetch failed for good, in words for the card; and how many it marked removed.
alter table directory_fetches add column error_kind text;
alter table directory_fetches add column requested_by text;

-- One Rollcall person per upstream directory id in a workspace: imports match by it, and a
-- sign-in through the connected organisation links by it (Google `sub`, Entra `oid`, Slack user).
create unique index users_upstream_google on users (org_id, (external_ids ->> 'google')) where external_ids ? 'google';
create unique index users_upstream_microsoft on users (org_id, (external_ids ->> 'microsoft')) where external_ids ? 'microsoft';
create unique index users_upstream_slack on users (org_id, (external_ids ->> 'slack')) where external_ids ? 'slack';

-- The import view's search and its email match.
create index directory_entries_email on directory_entries (org_id, provider, lower(email));
