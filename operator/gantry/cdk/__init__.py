"""CdkBootstrap: the bootstrap stack `cdk deploy` needs, per region, from a template of our own."""
