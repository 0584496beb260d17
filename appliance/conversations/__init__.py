"""What visitors leave: conversations with every reply and its sources, leads with their consent, analytics events;
and how a workspace's people review, export and delete them."""
