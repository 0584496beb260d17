-- Only a crawled page has an address to link to: an uploaded file's passages used to carry its name as their URL,
-- and a name such as "https://evil.example/..." became a link in the widget. Those URLs go.
UPDATE chunks SET url = NULL
WHERE url IS NOT NULL AND source_id IN (SELECT id FROM sources WHERE kind NOT IN ('url', 'sitemap'));
UPDATE sources SET url = NULL WHERE url IS NOT NULL AND kind NOT IN ('url', 'sitemap');
