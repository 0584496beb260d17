-- Who started an API conversation ('user:<id>' or 'api_key:<id>'): only that caller may continue it through the ask
-- endpoint. Conversations started before this column existed have none, so no API caller can continue them.
ALTER TABLE conversations ADD COLUMN started_by TEXT;
