import raylab as ray


@ray.remote
def shout(word):
    return word.upper() + "!"


@ray.remote
class Echo:
    def say(self, x):
        return ("echo", x)


def main():
    ray.init(num_cpus=2, include_dashboard=False)
    print(ray.get([shout.remote(w) for w in ["a", "bc"]]))
    e = Echo.remote()
    print(ray.get(e.say.remote(1)))
    print("__name__ in driver:", __name__)
    ray.shutdown()


if __name__ == "__main__":
    main()
