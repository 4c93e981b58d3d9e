"""The SQL family: execution accuracy and partial matches of queries (`sql`, `sql_partial_match`, ...)."""
