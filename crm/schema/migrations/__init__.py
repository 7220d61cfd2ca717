"""One file per schema version, applied in order by crm.schema.migrate. Never edit a released
migration: add the next version's file and append it to crm.schema.MIGRATIONS."""
