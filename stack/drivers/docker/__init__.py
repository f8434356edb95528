"""The docker driver: the stack of docker-compose.test.yml, built locally, driven through the Docker API.

    from stack.drivers.docker.driver import DockerDriver
"""
