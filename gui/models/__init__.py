"""Qt item models over the API's lists: columns, sorting, filtering, and paging through the API's cursors."""
