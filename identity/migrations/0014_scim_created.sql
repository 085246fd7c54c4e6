-- Whether SCIM created the person (rather than taking over someone already in the workspace by
-- email): only people SCIM created are linked to a Microsoft sign-in by their externalId, since
-- a directory's say-so about an existing person's address is not proof of who they are.
alter table users add column scim_created boolean not null default false;
