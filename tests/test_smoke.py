def test_admin_index_loads_for_an_administrator(ada, login):
    response = login(ada).get("/admin/")
    assert response.status_code == 200
    assert b"Contacts" in response.content
