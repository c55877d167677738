-- Permissive write policies whose USING or WITH CHECK is literally true (splinter 0024 shape).
-- insert_only_untenanted: an INSERT policy on a table that holds no tenant rows (a contracted table,
-- or one carrying a tenant column, as in rls_disabled_in_exposed_schema): it lets any caller create
-- rows (an organization of their own, say), but writes no tenant's rows.
-- Params: %(schemas)s text[], %(tenant_columns)s text[], %(tenant_tables)s text[]
select 'rls_policy_always_true_write' as name,
       'Write policy that is always true' as title,
       'ERROR' as level,
       array['SECURITY'] as categories,
       format('Policy `%%s` on `%%s.%%s` for %%s to %%s has %%s: %%s',
              p.polname, n.nspname, c.relname,
              case p.polcmd when 'a' then 'INSERT' when 'w' then 'UPDATE' when 'd' then 'DELETE' else 'ALL' end,
              coalesce((select string_agg(case r when 0 then 'public' else pg_catalog.pg_get_userbyid(r) end, ', ')
                        from unnest(p.polroles) r), 'public'),
              concat_ws(' and ', case when pg_catalog.pg_get_expr(p.polqual, p.polrelid) = 'true' then 'USING (true)' end,
                        case when pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) = 'true' then 'WITH CHECK (true)' end),
              case when p.polcmd = 'a' and not t.tenant
                   then 'any caller can create rows with any values in a table that holds no tenant rows'
                   else 'any caller can write any tenant''s rows' end) as detail,
       format('alter policy %%I on %%I.%%I using (<tenant predicate>) with check (<tenant predicate>);', p.polname, n.nspname, c.relname) as remediation,
       jsonb_build_object('schema', n.nspname, 'name', c.relname, 'policy', p.polname, 'type', 'policy',
                          'insert_only_untenanted', p.polcmd = 'a' and not t.tenant) as metadata,
       format('rls_policy_always_true_write_%%s_%%s_%%s', n.nspname, c.relname, p.polname) as cache_key
from pg_catalog.pg_policy p
join pg_catalog.pg_class c on c.oid = p.polrelid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
cross join lateral (select n.nspname || '.' || c.relname = any (%(tenant_tables)s::text[])
                     or exists (select 1 from pg_catalog.pg_attribute a
                                where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                                  and a.attname = any (%(tenant_columns)s::text[])) as tenant) t
where p.polpermissive and p.polcmd in ('a', 'w', 'd', '*')
  and n.nspname = any (%(schemas)s::text[])
  and (pg_catalog.pg_get_expr(p.polqual, p.polrelid) = 'true' or pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) = 'true')
  and (p.polroles && array[0::oid] or exists (select 1 from pg_catalog.pg_roles r
       where r.oid = any (p.polroles) and r.rolname in ('anon', 'authenticated')))
order by 1;
