"""AWS Lambda's control plane: functions, versions, aliases, layers, permissions, tags.

``provider.LambdaProvider`` serves the API; ``resolve_for_invoke`` hands the execution
engine a ``FunctionSpec`` for a function version. Modules: ``schema`` (tables),
``records`` (row access, code package lifetime), ``code`` (zip checks and extraction),
``validation`` (AWS's constraints and messages), ``arns``, ``outputs``, ``policy``.
"""
