import sqlite3

from sqlalchemy import text

TABLE = "users"


def find(conn: sqlite3.Connection, session, name, user_id, order):
    cur = conn.cursor()
    # ruleid: sql-string-formatting
    cur.execute(f"SELECT * FROM users WHERE name = '{name}'")
    # ruleid: sql-string-formatting
    cur.execute("DELETE FROM users WHERE id = %s" % user_id)
    # ruleid: sql-string-formatting
    conn.execute("UPDATE users SET name = '{}' WHERE id = {}".format(name, user_id))
    # ruleid: sql-string-formatting
    session.execute(text("SELECT * FROM users ORDER BY " + order))
    query = f"SELECT id FROM users WHERE email LIKE '%{name}%'"
    # ruleid: sql-string-formatting
    rows = cur.execute(query).fetchall()
    # ok: sql-string-formatting
    cur.execute("SELECT * FROM users WHERE name = ?", (name,))
    # ok: sql-string-formatting
    session.execute(text("SELECT * FROM users WHERE id = :id"), {"id": user_id})
    # ok: sql-string-formatting
    cur.execute(f"SELECT count(*) FROM {TABLE}")
    # ok: sql-string-formatting
    cur.execute("SELECT 1")
    return rows
