-- What the retention sweep and data-subject erasure look up: conversations by last activity and by widget visitor,
-- analytics events by age.
CREATE INDEX conversations_by_update ON conversations (updated_at);
CREATE INDEX conversations_by_visitor ON conversations (visitor_id) WHERE visitor_id IS NOT NULL;
CREATE INDEX analytics_by_created ON analytics_events (created_at);
