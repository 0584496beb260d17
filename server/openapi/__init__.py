"""The OpenAPI document of `/api/v1`: the route table, the component schemas, and the document built from them."""
