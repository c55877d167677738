-- Demo data: three tenants, two or three users each, rows in every tenant table.
-- Runs as `postgres` after the migrations (postgres has BYPASSRLS, so RLS does
-- not get in the way). Every id is fixed so tests can refer to them. The password hash is a
-- precomputed bcrypt, so the seed is deterministic and does not need pgcrypto.
-- Row counts differ per tenant on purpose: a leak or a blocked tenant changes a count.
--
--   tenant   company_id                             users (password: demo-password)
--   acme     11111111-1111-4111-8111-111111111111   ana (owner), bruno (agent)
--   globex   22222222-2222-4222-8222-222222222222   carla (owner), diego (admin), eva (agent)
--   initech  33333333-3333-4333-8333-333333333333   fabio (owner), gabi (agent)

-- Companies ----------------------------------------------------------------------

insert into core.companies (id, name, slug, plan) values
  ('11111111-1111-4111-8111-111111111111', 'Acme Ltda',   'acme',    'pro'),
  ('22222222-2222-4222-8222-222222222222', 'Globex S.A.', 'globex',  'enterprise'),
  ('33333333-3333-4333-8333-333333333333', 'Initech',     'initech', 'starter');

-- Users (auth.users + auth.identities, as Supabase Auth stores them) -------------

with u (id, email, company_id, company_role, full_name) as (
  values
    ('aaaaaaaa-0001-4000-8000-000000000001'::uuid, 'ana@acme.example',      '11111111-1111-4111-8111-111111111111'::uuid, 'owner', 'Ana Souza'),
    ('aaaaaaaa-0002-4000-8000-000000000002'::uuid, 'bruno@acme.example',    '11111111-1111-4111-8111-111111111111'::uuid, 'agent', 'Bruno Lima'),
    ('bbbbbbbb-0001-4000-8000-000000000001'::uuid, 'carla@globex.example',  '22222222-2222-4222-8222-222222222222'::uuid, 'owner', 'Carla Mendes'),
    ('bbbbbbbb-0002-4000-8000-000000000002'::uuid, 'diego@globex.example',  '22222222-2222-4222-8222-222222222222'::uuid, 'admin', 'Diego Alves'),
    ('bbbbbbbb-0003-4000-8000-000000000003'::uuid, 'eva@globex.example',    '22222222-2222-4222-8222-222222222222'::uuid, 'agent', 'Eva Rocha'),
    ('cccccccc-0001-4000-8000-000000000001'::uuid, 'fabio@initech.example', '33333333-3333-4333-8333-333333333333'::uuid, 'owner', 'Fabio Costa'),
    ('cccccccc-0002-4000-8000-000000000002'::uuid, 'gabi@initech.example',  '33333333-3333-4333-8333-333333333333'::uuid, 'agent', 'Gabi Nunes')
)
insert into auth.users (
  instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
  raw_app_meta_data, raw_user_meta_data, created_at, updated_at,
  confirmation_token, recovery_token, email_change_token_new, email_change
)
select
  '00000000-0000-0000-0000-000000000000', u.id, 'authenticated', 'authenticated', u.email,
  '$2a$10$/BlFhgSNnYi.FqAB.5mjlePIm7bT6TNdvz/nHTV9qZky98/UE1Ehy', now(),  -- bcrypt('demo-password')
  jsonb_build_object('provider', 'email', 'providers', jsonb_build_array('email'),
                     'company_id', u.company_id, 'company_role', u.company_role),
  jsonb_build_object('full_name', u.full_name),
  now(), now(), '', '', '', ''
from u;

insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
select u.id::text, u.id,
       jsonb_build_object('sub', u.id::text, 'email', u.email, 'email_verified', true),
       'email', now(), now(), now()
from auth.users u
where u.email like '%.example';

-- Profiles and memberships --------------------------------------------------------

insert into core.profiles (id, company_id, full_name)
select u.id, (u.raw_app_meta_data ->> 'company_id')::uuid, u.raw_user_meta_data ->> 'full_name'
from auth.users u
where u.email like '%.example';

insert into core.memberships (company_id, user_id, role)
select (u.raw_app_meta_data ->> 'company_id')::uuid, u.id, u.raw_app_meta_data ->> 'company_role'
from auth.users u
where u.email like '%.example';

-- backoffice-api: customers (3 / 4 / 2) and contacts (4 / 5 / 2) ---------------------

insert into public.customers (id, company_id, name, tax_id, email, phone, status) values
  ('10c00000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'Padaria Pao Quente', '12.345.678/0001-90', 'contato@paoquente.example', '+5511900000001', 'active'),
  ('10c00000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111', 'Oficina Dois Irmaos', '23.456.789/0001-01', 'oficina@doisirmaos.example', '+5511900000002', 'active'),
  ('10c00000-0000-4000-8000-000000000003', '11111111-1111-4111-8111-111111111111', 'Marina Ferreira',     '123.456.789-09',     'marina@ferreira.example',  '+5511900000003', 'lead'),
  ('20c00000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222', 'Clinica Bem Estar',   '34.567.890/0001-12', 'agenda@bemestar.example',  '+5521900000001', 'active'),
  ('20c00000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222', 'Escola Aprender',     '45.678.901/0001-23', 'secretaria@aprender.example', '+5521900000002', 'active'),
  ('20c00000-0000-4000-8000-000000000003', '22222222-2222-4222-8222-222222222222', 'Rafael Martins',      '234.567.890-10',     'rafael@martins.example',   '+5521900000003', 'churned'),
  ('20c00000-0000-4000-8000-000000000004', '22222222-2222-4222-8222-222222222222', 'Loja Estrela',        '56.789.012/0001-34', 'vendas@estrela.example',   '+5521900000004', 'lead'),
  ('30c00000-0000-4000-8000-000000000001', '33333333-3333-4333-8333-333333333333', 'TPS Reports Inc',     '67.890.123/0001-45', 'tps@reports.example',      '+5531900000001', 'active'),
  ('30c00000-0000-4000-8000-000000000002', '33333333-3333-4333-8333-333333333333', 'Milton Waddams',      '345.678.901-21',     'milton@stapler.example',   '+5531900000002', 'active');

insert into public.contacts (id, company_id, customer_id, name, email, whatsapp) values
  ('10d00000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', '10c00000-0000-4000-8000-000000000001', 'Joao (Pao Quente)',   'joao@paoquente.example',   '+5511910000001'),
  ('10d00000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111', '10c00000-0000-4000-8000-000000000001', 'Maria (Pao Quente)',  'maria@paoquente.example',  '+5511910000002'),
  ('10d00000-0000-4000-8000-000000000003', '11111111-1111-4111-8111-111111111111', '10c00000-0000-4000-8000-000000000002', 'Pedro (Dois Irmaos)', 'pedro@doisirmaos.example', '+5511910000003'),
  ('10d00000-0000-4000-8000-000000000004', '11111111-1111-4111-8111-111111111111', null,                                   'Lead sem cadastro',   null,                       '+5511910000004'),
  ('20d00000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222', '20c00000-0000-4000-8000-000000000001', 'Dra. Lucia',          'lucia@bemestar.example',   '+5521910000001'),
  ('20d00000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222', '20c00000-0000-4000-8000-000000000001', 'Recepcao Bem Estar',  'recepcao@bemestar.example','+5521910000002'),
  ('20d00000-0000-4000-8000-000000000003', '22222222-2222-4222-8222-222222222222', '20c00000-0000-4000-8000-000000000002', 'Coordenacao',         'coord@aprender.example',   '+5521910000003'),
  ('20d00000-0000-4000-8000-000000000004', '22222222-2222-4222-8222-222222222222', '20c00000-0000-4000-8000-000000000003', 'Rafael Martins',      'rafael@martins.example',   '+5521910000004'),
  ('20d00000-0000-4000-8000-000000000005', '22222222-2222-4222-8222-222222222222', '20c00000-0000-4000-8000-000000000004', 'Gerente Estrela',     'gerente@estrela.example',  '+5521910000005'),
  ('30d00000-0000-4000-8000-000000000001', '33333333-3333-4333-8333-333333333333', '30c00000-0000-4000-8000-000000000001', 'Bill Lumbergh',       'bill@reports.example',     '+5531910000001'),
  ('30d00000-0000-4000-8000-000000000002', '33333333-3333-4333-8333-333333333333', '30c00000-0000-4000-8000-000000000002', 'Milton Waddams',      'milton@stapler.example',   '+5531910000002');

-- agent-runtime: conversations (3 / 4 / 2), messages (7 / 9 / 4), agent runs (3 / 4 / 2) --

insert into public.conversations (id, company_id, contact_id, channel, status, assigned_to, last_message_at) values
  ('10e00000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', '10d00000-0000-4000-8000-000000000001', 'whatsapp', 'open',    'aaaaaaaa-0002-4000-8000-000000000002', now() - interval '5 minutes'),
  ('10e00000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111', '10d00000-0000-4000-8000-000000000003', 'whatsapp', 'pending', null,                                   now() - interval '2 hours'),
  ('10e00000-0000-4000-8000-000000000003', '11111111-1111-4111-8111-111111111111', '10d00000-0000-4000-8000-000000000004', 'web',      'closed',  'aaaaaaaa-0001-4000-8000-000000000001', now() - interval '3 days'),
  ('20e00000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222', '20d00000-0000-4000-8000-000000000001', 'whatsapp', 'open',    'bbbbbbbb-0003-4000-8000-000000000003', now() - interval '1 minute'),
  ('20e00000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222', '20d00000-0000-4000-8000-000000000002', 'whatsapp', 'open',    'bbbbbbbb-0003-4000-8000-000000000003', now() - interval '30 minutes'),
  ('20e00000-0000-4000-8000-000000000003', '22222222-2222-4222-8222-222222222222', '20d00000-0000-4000-8000-000000000003', 'instagram','pending', 'bbbbbbbb-0002-4000-8000-000000000002', now() - interval '1 day'),
  ('20e00000-0000-4000-8000-000000000004', '22222222-2222-4222-8222-222222222222', '20d00000-0000-4000-8000-000000000005', 'web',      'closed',  null,                                   now() - interval '7 days'),
  ('30e00000-0000-4000-8000-000000000001', '33333333-3333-4333-8333-333333333333', '30d00000-0000-4000-8000-000000000001', 'whatsapp', 'open',    'cccccccc-0002-4000-8000-000000000002', now() - interval '10 minutes'),
  ('30e00000-0000-4000-8000-000000000002', '33333333-3333-4333-8333-333333333333', '30d00000-0000-4000-8000-000000000002', 'whatsapp', 'closed',  'cccccccc-0001-4000-8000-000000000001', now() - interval '2 days');

insert into public.messages (company_id, conversation_id, direction, sender, body) values
  ('11111111-1111-4111-8111-111111111111', '10e00000-0000-4000-8000-000000000001', 'inbound',  'contact', 'Bom dia, qual o prazo de entrega?'),
  ('11111111-1111-4111-8111-111111111111', '10e00000-0000-4000-8000-000000000001', 'outbound', 'bot',     'Bom dia! O prazo padrao e de 2 dias uteis.'),
  ('11111111-1111-4111-8111-111111111111', '10e00000-0000-4000-8000-000000000001', 'inbound',  'contact', 'Consegue para amanha?'),
  ('11111111-1111-4111-8111-111111111111', '10e00000-0000-4000-8000-000000000001', 'outbound', 'agent',   'Vou verificar com a logistica.'),
  ('11111111-1111-4111-8111-111111111111', '10e00000-0000-4000-8000-000000000002', 'inbound',  'contact', 'Preciso do orcamento atualizado.'),
  ('11111111-1111-4111-8111-111111111111', '10e00000-0000-4000-8000-000000000002', 'outbound', 'bot',     'Encaminhei para um atendente.'),
  ('11111111-1111-4111-8111-111111111111', '10e00000-0000-4000-8000-000000000003', 'inbound',  'contact', 'Obrigado, resolvido.'),
  ('22222222-2222-4222-8222-222222222222', '20e00000-0000-4000-8000-000000000001', 'inbound',  'contact', 'Quero remarcar a consulta de sexta.'),
  ('22222222-2222-4222-8222-222222222222', '20e00000-0000-4000-8000-000000000001', 'outbound', 'bot',     'Claro! Quais horarios funcionam?'),
  ('22222222-2222-4222-8222-222222222222', '20e00000-0000-4000-8000-000000000001', 'inbound',  'contact', 'Segunda de manha.'),
  ('22222222-2222-4222-8222-222222222222', '20e00000-0000-4000-8000-000000000002', 'inbound',  'contact', 'Confirmando a agenda de amanha.'),
  ('22222222-2222-4222-8222-222222222222', '20e00000-0000-4000-8000-000000000002', 'outbound', 'agent',   'Confirmado, ate amanha.'),
  ('22222222-2222-4222-8222-222222222222', '20e00000-0000-4000-8000-000000000003', 'inbound',  'contact', 'Qual o valor da matricula?'),
  ('22222222-2222-4222-8222-222222222222', '20e00000-0000-4000-8000-000000000003', 'outbound', 'bot',     'Enviei a tabela por e-mail.'),
  ('22222222-2222-4222-8222-222222222222', '20e00000-0000-4000-8000-000000000004', 'inbound',  'contact', 'Cancelar pedido 123.'),
  ('22222222-2222-4222-8222-222222222222', '20e00000-0000-4000-8000-000000000004', 'outbound', 'agent',   'Pedido cancelado.'),
  ('33333333-3333-4333-8333-333333333333', '30e00000-0000-4000-8000-000000000001', 'inbound',  'contact', 'Did you get the memo about the TPS reports?'),
  ('33333333-3333-4333-8333-333333333333', '30e00000-0000-4000-8000-000000000001', 'outbound', 'bot',     'Yes, the new cover sheets are attached.'),
  ('33333333-3333-4333-8333-333333333333', '30e00000-0000-4000-8000-000000000002', 'inbound',  'contact', 'I believe you have my stapler.'),
  ('33333333-3333-4333-8333-333333333333', '30e00000-0000-4000-8000-000000000002', 'outbound', 'agent',   'It is on your desk.');

insert into public.agent_runs (id, company_id, conversation_id, agent, model, status, input_tokens, output_tokens, error, started_at, finished_at) values
  ('10a00000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', '10e00000-0000-4000-8000-000000000001', 'atendimento', 'gpt-4o-mini', 'succeeded', 812, 64, null, now() - interval '6 minutes', now() - interval '6 minutes' + interval '3 seconds'),
  ('10a00000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111', '10e00000-0000-4000-8000-000000000002', 'atendimento', 'gpt-4o-mini', 'succeeded', 640, 31, null, now() - interval '2 hours', now() - interval '2 hours' + interval '2 seconds'),
  ('10a00000-0000-4000-8000-000000000003', '11111111-1111-4111-8111-111111111111', '10e00000-0000-4000-8000-000000000001', 'resumo',      'gpt-4o',      'running',   1200, 0, null, now() - interval '1 minute', null),
  ('20a00000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222', '20e00000-0000-4000-8000-000000000001', 'agenda',      'gpt-4o-mini', 'succeeded', 530, 42, null, now() - interval '2 minutes', now() - interval '2 minutes' + interval '2 seconds'),
  ('20a00000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222', '20e00000-0000-4000-8000-000000000003', 'vendas',      'gpt-4o-mini', 'succeeded', 702, 55, null, now() - interval '1 day', now() - interval '1 day' + interval '4 seconds'),
  ('20a00000-0000-4000-8000-000000000003', '22222222-2222-4222-8222-222222222222', '20e00000-0000-4000-8000-000000000004', 'vendas',      'gpt-4o-mini', 'failed',    410, 0, 'asyncpg.exceptions.QueryCanceledError: canceling statement due to statement timeout', now() - interval '7 days', now() - interval '7 days' + interval '8 seconds'),
  ('20a00000-0000-4000-8000-000000000004', '22222222-2222-4222-8222-222222222222', '20e00000-0000-4000-8000-000000000002', 'agenda',      'gpt-4o-mini', 'queued',    0, 0, null, null, null),
  ('30a00000-0000-4000-8000-000000000001', '33333333-3333-4333-8333-333333333333', '30e00000-0000-4000-8000-000000000001', 'support',     'gpt-4o-mini', 'succeeded', 300, 25, null, now() - interval '11 minutes', now() - interval '11 minutes' + interval '1 second'),
  ('30a00000-0000-4000-8000-000000000002', '33333333-3333-4333-8333-333333333333', '30e00000-0000-4000-8000-000000000002', 'support',     'gpt-4o-mini', 'succeeded', 280, 19, null, now() - interval '2 days', now() - interval '2 days' + interval '1 second');

-- autentique-service: documents (2 / 3 / 1) -------------------------------------------
-- (the audit trigger also writes one core.audit_log row per document and membership)

insert into public.documents (id, company_id, customer_id, autentique_id, name, status, signed_at, created_by) values
  ('10f00000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', '10c00000-0000-4000-8000-000000000001', 'atq_acme_0001',    'Contrato de fornecimento 2025', 'signed', now() - interval '20 days', 'aaaaaaaa-0001-4000-8000-000000000001'),
  ('10f00000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111', '10c00000-0000-4000-8000-000000000002', 'atq_acme_0002',    'Proposta comercial',            'sent',   null,                      'aaaaaaaa-0002-4000-8000-000000000002'),
  ('20f00000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222', '20c00000-0000-4000-8000-000000000001', 'atq_globex_0001',  'Termo de consentimento',        'signed', now() - interval '3 days', 'bbbbbbbb-0001-4000-8000-000000000001'),
  ('20f00000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222', '20c00000-0000-4000-8000-000000000002', 'atq_globex_0002',  'Contrato de matricula',         'sent',   null,                      'bbbbbbbb-0002-4000-8000-000000000002'),
  ('20f00000-0000-4000-8000-000000000003', '22222222-2222-4222-8222-222222222222', '20c00000-0000-4000-8000-000000000003', null,               'Distrato',                      'draft',  null,                      'bbbbbbbb-0003-4000-8000-000000000003'),
  ('30f00000-0000-4000-8000-000000000001', '33333333-3333-4333-8333-333333333333', '30c00000-0000-4000-8000-000000000001', 'atq_initech_0001', 'NDA',                           'rejected', null,                    'cccccccc-0001-4000-8000-000000000001');

-- facebook-capi: events (3 / 4 / 2) ---------------------------------------------------

insert into public.capi_events (company_id, pixel_id, event_name, event_id, event_time, payload, status, attempts, sent_at) values
  ('11111111-1111-4111-8111-111111111111', '100000000000001', 'Lead',     'acme-lead-0001',  now() - interval '1 day',  '{"value": 0, "currency": "BRL"}',   'sent',    1, now() - interval '1 day'),
  ('11111111-1111-4111-8111-111111111111', '100000000000001', 'Contact',  'acme-ctc-0001',   now() - interval '2 hours', '{"channel": "whatsapp"}',          'sent',    1, now() - interval '2 hours'),
  ('11111111-1111-4111-8111-111111111111', '100000000000001', 'Purchase', 'acme-buy-0001',   now() - interval '5 minutes', '{"value": 189.9, "currency": "BRL"}', 'pending', 0, null),
  ('22222222-2222-4222-8222-222222222222', '200000000000002', 'Schedule', 'globex-sch-0001', now() - interval '3 days', '{"service": "consulta"}',          'sent',    1, now() - interval '3 days'),
  ('22222222-2222-4222-8222-222222222222', '200000000000002', 'Lead',     'globex-lead-0001',now() - interval '1 day',  '{"value": 0, "currency": "BRL"}',   'sent',    2, now() - interval '1 day'),
  ('22222222-2222-4222-8222-222222222222', '200000000000002', 'CompleteRegistration', 'globex-reg-0001', now() - interval '6 hours', '{}',        'failed',  5, null),
  ('22222222-2222-4222-8222-222222222222', '200000000000002', 'Purchase', 'globex-buy-0001', now() - interval '1 hour', '{"value": 1250, "currency": "BRL"}', 'pending', 0, null),
  ('33333333-3333-4333-8333-333333333333', '300000000000003', 'Lead',     'initech-lead-0001', now() - interval '4 days', '{}',                           'sent',    1, now() - interval '4 days'),
  ('33333333-3333-4333-8333-333333333333', '300000000000003', 'Contact',  'initech-ctc-0001',  now() - interval '1 hour', '{"channel": "web"}',            'pending', 0, null);

-- evolution-manager: WhatsApp instances (1 / 2 / 1) --------------------------------------

insert into public.evolution_instances (id, company_id, instance_name, phone_number, status, webhook_url, connected_at) values
  ('10b00000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'acme-vendas',     '+5511990000001', 'open',       'http://agent-runtime:5000/webhooks/evolution', now() - interval '30 days'),
  ('20b00000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222', 'globex-agenda',   '+5521990000001', 'open',       'http://agent-runtime:5000/webhooks/evolution', now() - interval '60 days'),
  ('20b00000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222', 'globex-suporte',  '+5521990000002', 'connecting', 'http://agent-runtime:5000/webhooks/evolution', null),
  ('30b00000-0000-4000-8000-000000000001', '33333333-3333-4333-8333-333333333333', 'initech-support', '+5531990000001', 'close',      null,                                            null);
