import os


class Plugin:
    def describe(self, module):
        # ruleid: getattr-with-constant
        name = self.name
        # ruleid: getattr-with-constant
        version = module.__version__
        # ruleid: getattr-with-constant
        sep = os.path.sep.join([name, version])
        # ok: getattr-with-constant
        label = getattr(self, "label", name)
        # ok: getattr-with-constant
        field = getattr(self, self.field_name)
        # ok: getattr-with-constant
        secret = getattr(self, "__secret")
        # ok: getattr-with-constant
        klass = getattr(module, "class")
        # ok: getattr-with-constant
        dashed = getattr(module, "not-an-identifier")
        return name, version, sep, label, field, secret, klass, dashed
