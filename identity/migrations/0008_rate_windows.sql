-- Usage counted in fixed windows, shared by every app server: how many invitations a workspace
-- and each admin sent in the current day. `key` names what is counted (`invites:org:<id>`).
create table rate_windows (
    key text primary key,
    window_started_at timestamptz not null,
    used bigint not null
);
