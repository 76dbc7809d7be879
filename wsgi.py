from alloyhub import create_app

app = create_app()
