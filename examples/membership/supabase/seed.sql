-- Seed for local development / tests. Runs as postgres after the migrations.
--
-- Three organizations. noah is admin of nimbus AND a plain member of orbit, lena belongs to
-- no organization at all (she can only see her own profile).
--
--   org      id                                     members
--   orbit    d1000000-0000-4000-8000-000000000001   olivia (owner), oscar (member), noah (member)
--   nimbus   d2000000-0000-4000-8000-000000000002   nina (owner), noah (admin)
--   quasar   d3000000-0000-4000-8000-000000000003   quinn (owner)

-- users: the on_auth_user_created trigger creates their profiles
insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                        raw_app_meta_data, raw_user_meta_data, created_at, updated_at,
                        confirmation_token, recovery_token, email_change_token_new, email_change)
values
  ('00000000-0000-0000-0000-000000000000', 'e1000000-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'olivia@orbit.example',  extensions.crypt('password123', extensions.gen_salt('bf')), now(), '{"provider":"email","providers":["email"]}', '{"full_name":"Olivia Owens"}',  now(), now(), '', '', '', ''),
  ('00000000-0000-0000-0000-000000000000', 'e1000000-0000-4000-8000-000000000002', 'authenticated', 'authenticated', 'oscar@orbit.example',   extensions.crypt('password123', extensions.gen_salt('bf')), now(), '{"provider":"email","providers":["email"]}', '{"full_name":"Oscar Ortiz"}',   now(), now(), '', '', '', ''),
  ('00000000-0000-0000-0000-000000000000', 'e2000000-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'nina@nimbus.example',   extensions.crypt('password123', extensions.gen_salt('bf')), now(), '{"provider":"email","providers":["email"]}', '{"full_name":"Nina Novak"}',    now(), now(), '', '', '', ''),
  ('00000000-0000-0000-0000-000000000000', 'e2000000-0000-4000-8000-000000000002', 'authenticated', 'authenticated', 'noah@nimbus.example',   extensions.crypt('password123', extensions.gen_salt('bf')), now(), '{"provider":"email","providers":["email"]}', '{"full_name":"Noah Nash"}',     now(), now(), '', '', '', ''),
  ('00000000-0000-0000-0000-000000000000', 'e3000000-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'quinn@quasar.example',  extensions.crypt('password123', extensions.gen_salt('bf')), now(), '{"provider":"email","providers":["email"]}', '{"full_name":"Quinn Quade"}',   now(), now(), '', '', '', ''),
  ('00000000-0000-0000-0000-000000000000', 'e9000000-0000-4000-8000-000000000009', 'authenticated', 'authenticated', 'lena@nowhere.example',  extensions.crypt('password123', extensions.gen_salt('bf')), now(), '{"provider":"email","providers":["email"]}', '{"full_name":"Lena Loner"}',    now(), now(), '', '', '', '');

insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
select id::text, id, jsonb_build_object('sub', id::text, 'email', email), 'email', now(), now(), now()
from auth.users where email like '%.example';

update public.profiles set username = split_part(p.email, '@', 1)
from auth.users p where p.id = profiles.id;

insert into public.organizations (id, name, slug) values
  ('d1000000-0000-4000-8000-000000000001', 'Orbit Labs', 'orbit'),
  ('d2000000-0000-4000-8000-000000000002', 'Nimbus Cloud', 'nimbus'),
  ('d3000000-0000-4000-8000-000000000003', 'Quasar Studio', 'quasar');

insert into public.org_members (org_id, user_id, role) values
  ('d1000000-0000-4000-8000-000000000001', 'e1000000-0000-4000-8000-000000000001', 'owner'),
  ('d1000000-0000-4000-8000-000000000001', 'e1000000-0000-4000-8000-000000000002', 'member'),
  ('d1000000-0000-4000-8000-000000000001', 'e2000000-0000-4000-8000-000000000002', 'member'),
  ('d2000000-0000-4000-8000-000000000002', 'e2000000-0000-4000-8000-000000000001', 'owner'),
  ('d2000000-0000-4000-8000-000000000002', 'e2000000-0000-4000-8000-000000000002', 'admin'),
  ('d3000000-0000-4000-8000-000000000003', 'e3000000-0000-4000-8000-000000000001', 'owner');

insert into public.projects (id, org_id, name, description, created_by) values
  ('f1000000-0000-4000-8000-000000000001', 'd1000000-0000-4000-8000-000000000001', 'Launch site',     'Marketing website',        'e1000000-0000-4000-8000-000000000001'),
  ('f1000000-0000-4000-8000-000000000002', 'd1000000-0000-4000-8000-000000000001', 'Telemetry',       'Ground station telemetry', 'e1000000-0000-4000-8000-000000000002'),
  ('f2000000-0000-4000-8000-000000000001', 'd2000000-0000-4000-8000-000000000002', 'Billing v2',      null,                       'e2000000-0000-4000-8000-000000000001'),
  ('f2000000-0000-4000-8000-000000000002', 'd2000000-0000-4000-8000-000000000002', 'Status page',     null,                       'e2000000-0000-4000-8000-000000000002'),
  ('f2000000-0000-4000-8000-000000000003', 'd2000000-0000-4000-8000-000000000002', 'Mobile app',      'iOS + Android',            'e2000000-0000-4000-8000-000000000001'),
  ('f3000000-0000-4000-8000-000000000001', 'd3000000-0000-4000-8000-000000000003', 'Album artwork',   null,                       'e3000000-0000-4000-8000-000000000001');

-- tasks: orbit 4, nimbus 5, quasar 2 (each insert also queues the task_created webhook)
insert into public.tasks (project_id, title, status, assignee_id, embedding) values
  ('f1000000-0000-4000-8000-000000000001', 'Hero section copy',          'doing', 'e1000000-0000-4000-8000-000000000002', '[0.9,0.1,0.0]'),
  ('f1000000-0000-4000-8000-000000000001', 'Pricing table',              'todo',  null,                                   '[0.8,0.2,0.1]'),
  ('f1000000-0000-4000-8000-000000000002', 'Downlink parser',            'done',  'e2000000-0000-4000-8000-000000000002', '[0.1,0.9,0.2]'),
  ('f1000000-0000-4000-8000-000000000002', 'Alert on packet loss',       'todo',  'e1000000-0000-4000-8000-000000000001', '[0.2,0.8,0.3]'),
  ('f2000000-0000-4000-8000-000000000001', 'Stripe webhooks',            'doing', 'e2000000-0000-4000-8000-000000000001', '[0.3,0.3,0.9]'),
  ('f2000000-0000-4000-8000-000000000001', 'Invoice PDF',                'todo',  null,                                   '[0.4,0.2,0.8]'),
  ('f2000000-0000-4000-8000-000000000002', 'Incident history',           'done',  'e2000000-0000-4000-8000-000000000002', '[0.1,0.7,0.6]'),
  ('f2000000-0000-4000-8000-000000000003', 'Push notifications',         'todo',  'e2000000-0000-4000-8000-000000000002', '[0.6,0.4,0.4]'),
  ('f2000000-0000-4000-8000-000000000003', 'Offline mode',               'todo',  null,                                   null),
  ('f3000000-0000-4000-8000-000000000001', 'Cover art v1',               'done',  'e3000000-0000-4000-8000-000000000001', '[0.5,0.5,0.5]'),
  ('f3000000-0000-4000-8000-000000000001', 'Vinyl sleeve',               'doing', 'e3000000-0000-4000-8000-000000000001', '[0.7,0.3,0.2]');

-- events: orbit 3, nimbus 4, quasar 1 (the severity=error ones also go to Slack via pg_net)
insert into public.events (project_id, kind, payload) values
  ('f1000000-0000-4000-8000-000000000001', 'deploy.succeeded', '{"severity":"info","actor":"ci","message":"v1.4.0 live"}'),
  ('f1000000-0000-4000-8000-000000000002', 'deploy.failed',    '{"severity":"error","actor":"ci","message":"migration timeout"}'),
  ('f1000000-0000-4000-8000-000000000002', 'member.joined',    '{"severity":"info","actor":"noah"}'),
  ('f2000000-0000-4000-8000-000000000001', 'deploy.succeeded', '{"severity":"info","actor":"ci"}'),
  ('f2000000-0000-4000-8000-000000000001', 'quota.warning',    '{"severity":"warning","message":"80% of invoices quota"}'),
  ('f2000000-0000-4000-8000-000000000002', 'deploy.succeeded', '{"severity":"info","actor":"ci"}'),
  ('f2000000-0000-4000-8000-000000000003', 'build.failed',     '{"severity":"error","actor":"ci","message":"xcode signing"}'),
  ('f3000000-0000-4000-8000-000000000001', 'file.uploaded',    '{"severity":"info","actor":"quinn","message":"cover-v1.png"}');

-- project secrets: orbit 2, nimbus 2, quasar 1 (values in Vault)
insert into public.project_secrets (project_id, name, vault_secret_id) values
  ('f1000000-0000-4000-8000-000000000001', 'VERCEL_TOKEN',  vault.create_secret('orbit-vercel-not-real', 'orbit/launch-site/VERCEL_TOKEN')),
  ('f1000000-0000-4000-8000-000000000002', 'MQTT_PASSWORD', vault.create_secret('orbit-mqtt-not-real', 'orbit/telemetry/MQTT_PASSWORD')),
  ('f2000000-0000-4000-8000-000000000001', 'STRIPE_KEY',    vault.create_secret('sk_test_not_real', 'nimbus/billing/STRIPE_KEY')),
  ('f2000000-0000-4000-8000-000000000003', 'APNS_KEY',      vault.create_secret('apns-not-real', 'nimbus/mobile/APNS_KEY')),
  ('f3000000-0000-4000-8000-000000000001', 'DROPBOX_TOKEN', vault.create_secret('dropbox-not-real', 'quasar/artwork/DROPBOX_TOKEN'));

-- invites: orbit 1, nimbus 2, quasar 0 (tokens signed by the sign_invite trigger)
insert into public.invites (org_id, email, role, invited_by) values
  ('d1000000-0000-4000-8000-000000000001', 'pat@orbit.example',  'member', 'e1000000-0000-4000-8000-000000000001'),
  ('d2000000-0000-4000-8000-000000000002', 'sam@nimbus.example', 'admin',  'e2000000-0000-4000-8000-000000000001'),
  ('d2000000-0000-4000-8000-000000000002', 'kim@nimbus.example', 'member', 'e2000000-0000-4000-8000-000000000002');

-- files in the private bucket: <org_id>/<project_id>/<name>; orbit 2, nimbus 1, quasar 1
insert into storage.objects (bucket_id, name, owner, owner_id, metadata) values
  ('project-files', 'd1000000-0000-4000-8000-000000000001/f1000000-0000-4000-8000-000000000001/brief.pdf',     'e1000000-0000-4000-8000-000000000001', 'e1000000-0000-4000-8000-000000000001', '{"mimetype":"application/pdf","size":48213}'),
  ('project-files', 'd1000000-0000-4000-8000-000000000001/f1000000-0000-4000-8000-000000000002/antenna.png',   'e1000000-0000-4000-8000-000000000002', 'e1000000-0000-4000-8000-000000000002', '{"mimetype":"image/png","size":120044}'),
  ('project-files', 'd2000000-0000-4000-8000-000000000002/f2000000-0000-4000-8000-000000000001/invoice.pdf',   'e2000000-0000-4000-8000-000000000001', 'e2000000-0000-4000-8000-000000000001', '{"mimetype":"application/pdf","size":30211}'),
  ('project-files', 'd3000000-0000-4000-8000-000000000003/f3000000-0000-4000-8000-000000000001/cover-v1.png',  'e3000000-0000-4000-8000-000000000001', 'e3000000-0000-4000-8000-000000000001', '{"mimetype":"image/png","size":811200}');
