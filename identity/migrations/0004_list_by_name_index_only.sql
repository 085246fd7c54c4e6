-- The Users tab's default order (by name) reads the columns it shows from the index alone: an
-- index-only scan, instead of one heap page visit per listed row. Rows on pages changed since
-- the last vacuum are still checked against the heap, so answers stay exact.
drop index users_by_name;
create index users_by_name on users (org_id, sort_name, id)
    include (email, given_name, family_name, role, status, source, last_login_at);
