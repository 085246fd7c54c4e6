-- The Users tab shows each invited person's open invitation (sent, expires). The index that
-- keeps invitations at one open per person now also holds those two dates, so each listed row
-- finds them with an index-only probe instead of reading the person's every invitation (resends
-- included) from the table. Same uniqueness, same rows.
create unique index invites_open_by_user on invites (org_id, user_id) include (created_at, expires_at)
    where accepted_at is null and revoked_at is null and superseded_at is null;
drop index invites_one_open_per_user;
