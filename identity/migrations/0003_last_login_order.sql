-- "Last sign-in, newest first" lists people who never signed in last. An index in exactly that
-- order (read backwards for oldest first) keeps deep pages of 100k users fast.
drop index users_by_last_login;
create index users_by_last_login on users (org_id, last_login_at desc nulls last, id desc);
