-- Two organizations, one owner and one member each; the sign-up trigger creates public.users rows.
insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                        raw_app_meta_data, raw_user_meta_data, created_at, updated_at,
                        confirmation_token, recovery_token, email_change_token_new, email_change)
values
  ('00000000-0000-0000-0000-000000000000', 'a1000000-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'ada@alpha.example', '', now(), '{"provider":"email","providers":["email"]}', '{}', now(), now(), '', '', '', ''),
  ('00000000-0000-0000-0000-000000000000', 'a1000000-0000-4000-8000-000000000002', 'authenticated', 'authenticated', 'alan@alpha.example', '', now(), '{"provider":"email","providers":["email"]}', '{}', now(), now(), '', '', '', ''),
  ('00000000-0000-0000-0000-000000000000', 'b2000000-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'bea@beta.example', '', now(), '{"provider":"email","providers":["email"]}', '{}', now(), now(), '', '', '', ''),
  ('00000000-0000-0000-0000-000000000000', 'b2000000-0000-4000-8000-000000000002', 'authenticated', 'authenticated', 'ben@beta.example', '', now(), '{"provider":"email","providers":["email"]}', '{}', now(), now(), '', '', '', '');

insert into public.organizations (id, name) values
  ('0a000000-0000-4000-8000-00000000000a', 'Alpha'),
  ('0b000000-0000-4000-8000-00000000000b', 'Beta');

insert into public.organization_members (organization_id, user_id, member_role) values
  ('0a000000-0000-4000-8000-00000000000a', 'a1000000-0000-4000-8000-000000000001', 'owner'),
  ('0a000000-0000-4000-8000-00000000000a', 'a1000000-0000-4000-8000-000000000002', 'member'),
  ('0b000000-0000-4000-8000-00000000000b', 'b2000000-0000-4000-8000-000000000001', 'owner'),
  ('0b000000-0000-4000-8000-00000000000b', 'b2000000-0000-4000-8000-000000000002', 'member');

insert into public.documents (id, organization_id, created_by, title) values
  ('d0c00000-0000-4000-8000-0000000000a1', '0a000000-0000-4000-8000-00000000000a', 'a1000000-0000-4000-8000-000000000001', 'Alpha plan'),
  ('d0c00000-0000-4000-8000-0000000000a2', '0a000000-0000-4000-8000-00000000000a', 'a1000000-0000-4000-8000-000000000002', 'Alpha notes'),
  ('d0c00000-0000-4000-8000-0000000000b1', '0b000000-0000-4000-8000-00000000000b', 'b2000000-0000-4000-8000-000000000001', 'Beta plan'),
  ('d0c00000-0000-4000-8000-0000000000b2', '0b000000-0000-4000-8000-00000000000b', 'b2000000-0000-4000-8000-000000000002', 'Beta notes');
