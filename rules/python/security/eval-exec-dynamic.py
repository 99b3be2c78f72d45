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
