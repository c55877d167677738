-- Sensitive-looking columns in exposed tables without RLS that the API roles can read (splinter 0023 shape).
-- Params: %(schemas)s text[]
select 'rls_sensitive_columns_exposed' as name,
       'Sensitive columns exposed' as title,
       'ERROR' as level,
       array['SECURITY'] as categories,
       format('Table `%%s.%%s` has no RLS and exposes %%s to the Data API', n.nspname, c.relname,
              string_agg(a.attname, ', ' order by a.attnum)) as detail,
       format('alter table %%I.%%I enable row level security; and move secrets out of exposed schemas', n.nspname, c.relname) as remediation,
       jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'table') as metadata,
       format('rls_sensitive_columns_exposed_%%s_%%s', n.nspname, c.relname) as cache_key
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where c.relkind in ('r', 'p') and not c.relrowsecurity and n.nspname = any (%(schemas)s::text[])
  and ((pg_catalog.has_schema_privilege('anon', n.oid, 'USAGE') and pg_catalog.has_table_privilege('anon', c.oid, 'SELECT')) or (pg_catalog.has_schema_privilege('authenticated', n.oid, 'USAGE') and pg_catalog.has_table_privilege('authenticated', c.oid, 'SELECT')))
  and a.attname ~* '(password|passwd|secret|token|api_?key|private_?key|ssn|cpf|cnpj|tax_id|credit_?card|card_number|iban)'
group by n.nspname, c.relname
order by 1;
