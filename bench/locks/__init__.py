"""Lock scenarios shown to dbrunbook and to the Supabase CLI's `inspect db` (python -m bench.locks)."""
