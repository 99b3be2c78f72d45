def withdraw(account, amount):
    # ruleid: assert-used-for-validation
    assert amount > 0, "amount must be positive"
    # ruleid: assert-used-for-validation
    assert account.owner_can_withdraw(amount)
    account.balance -= amount


class Api:
    def delete(self, user, item_id):
        # ruleid: assert-used-for-validation
        assert user.is_admin
        self.store.delete(item_id)

    def _internal(self, n):
        # ok: assert-used-for-validation
        assert n >= 0
        return n

    def narrow(self, conn):
        # ok: assert-used-for-validation
        assert conn is not None
        # ok: assert-used-for-validation
        assert isinstance(conn, dict), "conn must be a dict"
        # ok: assert-used-for-validation
        assert self.ready
        return conn


def compute(values):
    total = sum(values)
    # ok: assert-used-for-validation
    assert total >= 0
    return total


def test_withdraw(account):
    # ok: assert-used-for-validation
    assert account.balance == 0
