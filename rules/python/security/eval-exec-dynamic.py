import ast


def calculate(expression, request, model):
    # ruleid: eval-exec-dynamic
    result = eval(expression)
    # ruleid: eval-exec-dynamic
    exec(request.form["code"], {"__builtins__": {}})
    # ruleid: eval-exec-dynamic
    value = eval("lambda x: " + request.args["body"])
    # ok: eval-exec-dynamic
    value = ast.literal_eval(expression)
    # ok: eval-exec-dynamic
    const = eval("1 + 2")
    # ok: eval-exec-dynamic
    model.eval()
    return result, value, const


evaluate = eval  # the builtin stored in a name


def indirect(expression, source):
    import builtins
    from builtins import exec as run_code

    # ruleid: eval-exec-dynamic
    first = evaluate(expression)
    # ruleid: eval-exec-dynamic
    second = builtins.eval(expression)
    # ruleid: eval-exec-dynamic
    run_code(source)
    # ok: eval-exec-dynamic
    third = evaluate("2 ** 8")
    return first, second, third
