-- A SCIM externalId names one person per workspace: a Microsoft sign-in links the SCIM-created
-- person whose externalId is the account's object id, so two may never share one.
drop index users_scim_external_id;
create unique index users_scim_external_id on users (org_id, (external_ids ->> 'scim')) where external_ids ? 'scim';
