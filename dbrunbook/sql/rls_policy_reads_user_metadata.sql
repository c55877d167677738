-- Policies that trust user_metadata, which every user can edit (splinter 0015 shape). The text match
-- only preselects: checks/test_rls_lints.py keeps a row when the expression really reads the claim
-- (dbrunbook/rls/claimsource.py), so a column named like it is not a finding.
-- Params: %(schemas)s text[]
select 'rls_policy_reads_user_metadata' as name,
       'Policy reads user_metadata' as title,
       'ERROR' as level,
       array['SECURITY'] as categories,
       format('Policy `%%s` on `%%s.%%s` reads user_metadata, which the user sets with supabase.auth.updateUser(): anyone can claim any tenant',
              p.polname, n.nspname, c.relname) as detail,
       'read the tenant from app_metadata or a custom claim set by an auth hook, never from user_metadata' as remediation,
       jsonb_build_object('schema', n.nspname, 'name', c.relname, 'policy', p.polname, 'type', 'policy',
                          'expr', concat(pg_catalog.pg_get_expr(p.polqual, p.polrelid), ' ',
                                         pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))) as metadata,
       format('rls_policy_reads_user_metadata_%%s_%%s_%%s', n.nspname, c.relname, p.polname) as cache_key
from pg_catalog.pg_policy p
join pg_catalog.pg_class c on c.oid = p.polrelid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where n.nspname = any (%(schemas)s::text[])
  and concat(pg_catalog.pg_get_expr(p.polqual, p.polrelid), ' ', pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))
      ~* '(user_metadata|raw_user_meta_data)'
order by 1;
