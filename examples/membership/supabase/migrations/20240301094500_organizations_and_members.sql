-- Organizations, memberships and user profiles.
--
-- Access to everything hangs off public.org_members. Policies never query
-- org_members directly (that would recurse through org_members' own policy);
-- they call the SECURITY DEFINER helpers in the "private" schema instead,
-- which isn't exposed by PostgREST.

CREATE SCHEMA IF NOT EXISTS private;
GRANT USAGE ON SCHEMA private TO authenticated, service_role;

CREATE TABLE public.organizations (
    id uuid DEFAULT gen_random_uuid() NOT NULL PRIMARY KEY,
    name text NOT NULL,
    slug text NOT NULL UNIQUE,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TYPE public.org_role AS ENUM ('owner', 'admin', 'member');

CREATE TABLE public.org_members (
    org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    role public.org_role DEFAULT 'member'::public.org_role NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user_id_idx ON public.org_members USING btree (user_id);

CREATE TABLE public.profiles (
    id uuid NOT NULL PRIMARY KEY REFERENCES auth.users(id) ON DELETE CASCADE,
    username text UNIQUE,
    full_name text,
    avatar_url text,
    updated_at timestamp with time zone,
    CONSTRAINT username_length CHECK (char_length(username) >= 3)
);

-- helpers ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION private.user_org_ids()
RETURNS SETOF uuid
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
  SELECT m.org_id FROM public.org_members m WHERE m.user_id = (SELECT auth.uid())
$$;

CREATE OR REPLACE FUNCTION private.is_org_member(org uuid)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
  SELECT EXISTS (
    SELECT 1 FROM public.org_members m
    WHERE m.org_id = org AND m.user_id = (SELECT auth.uid())
  )
$$;

CREATE OR REPLACE FUNCTION private.is_org_admin(org uuid)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
  SELECT EXISTS (
    SELECT 1 FROM public.org_members m
    WHERE m.org_id = org AND m.user_id = (SELECT auth.uid())
      AND m.role IN ('owner', 'admin')
  )
$$;

REVOKE EXECUTE ON FUNCTION private.user_org_ids() FROM PUBLIC, anon;
REVOKE EXECUTE ON FUNCTION private.is_org_member(uuid) FROM PUBLIC, anon;
REVOKE EXECUTE ON FUNCTION private.is_org_admin(uuid) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION private.user_org_ids() TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION private.is_org_member(uuid) TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION private.is_org_admin(uuid) TO authenticated, service_role;

-- RLS -------------------------------------------------------------------------

ALTER TABLE public.organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.org_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Members can view their organizations" ON public.organizations
  FOR SELECT TO authenticated
  USING (id IN (SELECT private.user_org_ids()));

CREATE POLICY "Admins can update their organizations" ON public.organizations
  FOR UPDATE TO authenticated
  USING ((SELECT private.is_org_admin(id)))
  WITH CHECK ((SELECT private.is_org_admin(id)));

CREATE POLICY "Members can view co-members" ON public.org_members
  FOR SELECT TO authenticated
  USING (org_id IN (SELECT private.user_org_ids()));

CREATE POLICY "Admins can add members" ON public.org_members
  FOR INSERT TO authenticated
  WITH CHECK ((SELECT private.is_org_admin(org_id)));

CREATE POLICY "Admins can change roles" ON public.org_members
  FOR UPDATE TO authenticated
  USING ((SELECT private.is_org_admin(org_id)))
  WITH CHECK ((SELECT private.is_org_admin(org_id)));

CREATE POLICY "Admins can remove members" ON public.org_members
  FOR DELETE TO authenticated
  USING ((SELECT private.is_org_admin(org_id)));

CREATE POLICY "Users can view their own profile and co-members' profiles" ON public.profiles
  FOR SELECT TO authenticated
  USING (
    id = (SELECT auth.uid())
    OR id IN (
      SELECT m.user_id FROM public.org_members m
      WHERE m.org_id IN (SELECT private.user_org_ids())
    )
  );

CREATE POLICY "Users can update own profile" ON public.profiles
  FOR UPDATE TO authenticated
  USING (id = (SELECT auth.uid()))
  WITH CHECK (id = (SELECT auth.uid()));

-- new orgs are created by the onboarding edge function (service role)
GRANT SELECT, UPDATE ON public.organizations TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.org_members TO authenticated;
GRANT SELECT, UPDATE ON public.profiles TO authenticated;
GRANT ALL ON public.organizations, public.org_members, public.profiles TO service_role;

-- profile on sign-up ----------------------------------------------------------
-- the classic https://supabase.com/docs/guides/auth/managing-user-data trigger

CREATE OR REPLACE FUNCTION public.handle_new_user()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
  INSERT INTO public.profiles (id, full_name, avatar_url)
  VALUES (new.id, new.raw_user_meta_data ->> 'full_name', new.raw_user_meta_data ->> 'avatar_url');
  RETURN new;
END;
$$;

REVOKE EXECUTE ON FUNCTION public.handle_new_user() FROM PUBLIC, anon, authenticated;

CREATE TRIGGER on_auth_user_created
  AFTER INSERT ON auth.users
  FOR EACH ROW EXECUTE FUNCTION public.handle_new_user();
