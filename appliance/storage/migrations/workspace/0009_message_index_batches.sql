-- Messages reach their full-text index in batches (appliance/conversations/message_index.py), not one commit at a
-- time: every chat commit made a segment of its own in the index, about a seventh of a reply's CPU. A message waits
-- here, by id only, until its batch is indexed; searches read the waiting ones too.
CREATE TABLE messages_unindexed (id INTEGER PRIMARY KEY);
DROP TRIGGER messages_ai;
CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
    INSERT INTO messages_unindexed (id) VALUES (new.id);
END;
-- Only an indexed message has words to delete from the index (deleting words that were never added corrupts it).
DROP TRIGGER messages_ad;
CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
    SELECT 'delete', old.id, old.text WHERE NOT EXISTS (SELECT 1 FROM messages_unindexed WHERE id = old.id);
    DELETE FROM messages_unindexed WHERE id = old.id;
END;
