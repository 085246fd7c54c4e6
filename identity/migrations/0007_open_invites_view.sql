-- "An open invitation" is written here once for the database: one neither accepted, revoked nor
-- replaced by a newer one (it may have expired). Statements read, supersede and revoke through
-- this view; PostgreSQL expands it in place, so plans and the partial unique index of 0005 are
-- used as before. Older servers keep their own copies of the rule and ignore the view. The view's
-- `select *` is fixed at creation: a later migration that adds, drops or retypes a column of
-- invites recreates the view with it.
create view open_invites as
    select * from invites
     where accepted_at is null and revoked_at is null and superseded_at is null;

-- The mirror of 0006, reading the view (same plan: one index probe per person for each date).
create or replace function mirror_open_invites(changed invites[]) returns void language plpgsql as $$
begin
    perform 1 from users u join (select distinct org_id, user_id from unnest(changed)) p
        on u.org_id = p.org_id and u.id = p.user_id
     order by u.org_id, u.id
       for no key update of u;
    update users u
       set invite_sent_at = o.sent_at, invite_expires_at = o.expires_at
      from (select p.org_id, p.user_id,
                   (select i.created_at from open_invites i where i.org_id = p.org_id and i.user_id = p.user_id) as sent_at,
                   (select i.expires_at from open_invites i where i.org_id = p.org_id and i.user_id = p.user_id) as expires_at
              from (select distinct org_id, user_id from unnest(changed)) p) o
     where u.org_id = o.org_id and u.id = o.user_id
       and (u.invite_sent_at, u.invite_expires_at) is distinct from (o.sent_at, o.expires_at);
end $$;
